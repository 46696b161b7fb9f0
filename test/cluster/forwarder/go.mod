module sluice.dev/localcluster/forwarder

go 1.24
