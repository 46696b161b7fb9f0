// sluice-forward: forwards TCP connections from a listener on host loopback to an address
// inside the local cluster's network namespace, without routing the namespace to the host.
//
// The listener is opened in the caller's network namespace; every outgoing connection is
// opened by a fresh OS thread that has joined the cluster's namespace (setns), so no packet
// leaves that namespace except through this user-space copy loop.
//
//	sluice-forward -netns /run/netns/sluice -listen 127.0.0.1:16443 -target 10.254.0.1:6443 [-port-file F]
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"runtime"
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
	flag.Parse()
	if *target == "" {
		log.Fatal("-target is required")
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
	if probe := dialIn(nsFile, ""); probe.err != nil && probe.err != errNoTarget {
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
		go serve(c, nsFile, *target)
	}
}

var errNoTarget = errors.New("no target")

// dialIn opens a connection from a fresh OS thread that joins the namespace first. The
// goroutine never unlocks its thread, so the runtime discards the thread when it returns.
func dialIn(ns *os.File, target string) dialRes {
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
		c, err := net.DialTimeout("tcp", target, 10*time.Second)
		ch <- dialRes{c, err}
	}()
	return <-ch
}

func serve(c net.Conn, ns *os.File, target string) {
	defer c.Close()
	res := dialIn(ns, target)
	if res.err != nil {
		log.Printf("dial: %v", res.err)
		return
	}
	up := res.conn
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
