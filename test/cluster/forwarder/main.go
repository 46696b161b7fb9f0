// sluice-forward: forwards TCP connections from a listener on host loopback to an address
// inside the local cluster's network namespace, without routing the namespace to the host.
//
// The listener is opened in the caller's network namespace; every outgoing connection is
// opened by a fresh OS thread that has joined the cluster's namespace (setns), so no packet
// leaves that namespace except through this user-space copy loop.
//
// A target given by name (a Service's DNS name) is resolved through -dns (the cluster's DNS
// Service, reached inside the namespace) for every new connection, so the forward follows the
// Service when it is recreated with another ClusterIP (e.g. after a helm reinstall).
//
//	sluice-forward -netns /run/netns/sluice -listen 127.0.0.1:16443 -target 10.254.0.1:6443 [-port-file F]
//	sluice-forward -netns /run/netns/sluice -dns 10.96.0.10:53 -target sluice-gateway.sluice-system.svc.cluster.local:8080
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"
)

const sysSetns = 308 // x86_64
const cloneNewnet = 0x40000000

type dialRes struct {
	conn net.Conn
	err  error
}

func main() {
	netnsPath := flag.String("netns", "/run/netns/sluice", "network namespace to dial from")
	listen := flag.String("listen", "127.0.0.1:0", "address to listen on (caller's namespace)")
	target := flag.String("target", "", "address to connect to inside the namespace")
	portFile := flag.String("port-file", "", "write the listening port to this file")
	dnsServer := flag.String("dns", "", "DNS server inside the namespace (IP:PORT) for a target given by name")
	flag.Parse()
	if *target == "" {
		log.Fatal("-target is required")
	}
	host, _, err := net.SplitHostPort(*target)
	if err != nil {
		log.Fatalf("-target %s: %v", *target, err)
	}
	if net.ParseIP(host) == nil && *dnsServer == "" {
		log.Fatalf("-target %s is a name: -dns is required (no resolver outside the namespace is used)", *target)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen %s: %v", *listen, err)
	}
	nsFile, err := os.Open(*netnsPath)
	if err != nil {
		log.Fatalf("open %s: %v", *netnsPath, err)
	}
	// Fail fast when the namespace cannot be joined.
	if probe := dialIn(nsFile, "", ""); probe.err != nil && probe.err != errNoTarget {
		log.Fatalf("setns %s: %v", *netnsPath, probe.err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	if *portFile != "" {
		if err := os.WriteFile(*portFile, []byte(fmt.Sprintf("%d\n", port)), 0o644); err != nil {
			log.Fatal(err)
		}
	}
	log.Printf("forwarding %s -> %s (in %s)", ln.Addr(), *target, *netnsPath)
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Printf("accept: %v", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		go serve(c, nsFile, *target, *dnsServer)
	}
}

var errNoTarget = errors.New("no target")

// dialTimeout: an address inside the namespace answers at once or is gone (a ClusterIP whose
// Service was deleted drops packets), so a dial gives up after 3 s and a name is resolved again.
const dialTimeout = 3 * time.Second

// dialIn opens a connection from a fresh OS thread that joins the namespace first. The
// goroutine never unlocks its thread, so the runtime discards the thread when it returns.
func dialIn(ns *os.File, network, target string) dialRes {
	ch := make(chan dialRes, 1)
	go func() {
		runtime.LockOSThread()
		if _, _, e := syscall.RawSyscall(sysSetns, ns.Fd(), cloneNewnet, 0); e != 0 {
			ch <- dialRes{nil, e}
			return
		}
		if target == "" {
			ch <- dialRes{nil, errNoTarget}
			return
		}
		c, err := net.DialTimeout(network, target, dialTimeout)
		ch <- dialRes{c, err}
	}()
	return <-ch
}

// resolve turns a name into one of its addresses, asking only the DNS server inside the
// namespace (over TCP, from a socket opened there); an IP target is returned as it is.
func resolve(ns *os.File, target, dnsServer string) (string, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil || net.ParseIP(host) != nil {
		return target, err
	}
	r := &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, _, _ string) (net.Conn, error) {
			res := dialIn(ns, "tcp", dnsServer)
			return res.conn, res.err
		},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ips, err := r.LookupIP(ctx, "ip4", strings.TrimSuffix(host, ".")+".")
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(ips[0].String(), port), nil
}

// connect resolves and dials the target; a name is resolved again after a failed dial (its
// Service may just have been recreated, and the DNS answer may be cached for a few seconds).
func connect(ns *os.File, target, dnsServer string) (net.Conn, error) {
	deadline := time.Now().Add(30 * time.Second)
	for {
		addr, err := resolve(ns, target, dnsServer)
		if err == nil {
			res := dialIn(ns, "tcp", addr)
			if res.err == nil || addr == target {
				return res.conn, res.err
			}
			err = res.err
		}
		if time.Now().After(deadline) {
			return nil, err
		}
		log.Printf("connect %s: %v; resolving again", target, err)
		time.Sleep(time.Second)
	}
}

func serve(c net.Conn, ns *os.File, target, dnsServer string) {
	defer c.Close()
	up, err := connect(ns, target, dnsServer)
	if err != nil {
		log.Printf("connect %s: %v", target, err)
		return
	}
	defer up.Close()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
	}
	go pipe(up, c)
	go pipe(c, up)
	wg.Wait()
}
