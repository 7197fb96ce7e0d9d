package main

import (
	"log"
	"net"
	"sync"
	"time"
)

// latencyProxy forwards TCP connections on a loopback port to target and
// delivers every chunk read from either side half the round-trip time
// later, so a loopback server looks like one rtt away. Bandwidth is not
// limited. It runs until the process ends.
func latencyProxy(target string, rtt time.Duration) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			var once sync.Once
			closeBoth := func() { once.Do(func() { c.Close(); s.Close() }) }
			go delayed(s, c, rtt/2, closeBoth)
			go delayed(c, s, rtt/2, closeBoth)
		}
	}()
	return ln.Addr().String()
}

// delayed copies src to dst, each chunk delay after it was read; at the
// end of either side it closes both.
func delayed(dst, src net.Conn, delay time.Duration, closeBoth func()) {
	defer closeBoth()
	type chunk struct {
		due time.Time
		b   []byte
	}
	// Enough room for the data in flight of one SSH connection.
	ch := make(chan chunk, 4096)
	go func() {
		defer close(ch)
		for {
			b := make([]byte, 64<<10)
			n, err := src.Read(b)
			if n > 0 {
				ch <- chunk{time.Now().Add(delay), b[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	for c := range ch {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.b); err != nil {
			return
		}
	}
}
