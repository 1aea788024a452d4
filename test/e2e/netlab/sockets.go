package netlab

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// Do runs f on an OS thread switched into the network's namespace, then
// switches the thread back. Sockets created by f (net.Listen, net.Dial) stay
// in the namespace for their whole life and can be used from any goroutine.
// f must not start goroutines that create sockets: they run elsewhere.
// A nil network is this process's own namespace (f runs as it is).
func (n *Network) Do(f func() error) error {
	if n == nil {
		return f()
	}
	return InNetns(n.NS, f)
}

// InNetns runs f with the calling goroutine's thread inside the named
// network namespace.
func InNetns(ns string, f func() error) error {
	runtime.LockOSThread()
	orig, err := os.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()))
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer orig.Close()
	target, err := os.Open("/run/netns/" + ns)
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netns %s: %w", ns, err)
	}
	defer target.Close()
	if err := unix.Setns(int(target.Fd()), unix.CLONE_NEWNET); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("setns %s: %w", ns, err)
	}
	ferr := f()
	if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
		// The thread stays in ns: keep it locked so that it exits with this
		// goroutine and is never reused.
		return fmt.Errorf("setns back from %s: %w (after %v)", ns, err, ferr)
	}
	runtime.UnlockOSThread()
	return ferr
}

// Listen opens a TCP listener inside the network.
func (n *Network) Listen(addr string) (net.Listener, error) {
	var l net.Listener
	err := n.Do(func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	})
	return l, err
}

// Dialer dials TCP from inside the network (nil Net: this process's own
// namespace), from source address Src when valid.
type Dialer struct {
	Net *Network
	Src netip.Addr
}

// DialContext opens a TCP connection inside the network.
func (d Dialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	nd := net.Dialer{}
	if d.Src.IsValid() {
		nd.LocalAddr = &net.TCPAddr{IP: d.Src.AsSlice()}
	}
	var c net.Conn
	err := d.Net.Do(func() (err error) {
		c, err = nd.DialContext(ctx, network, addr)
		return err
	})
	return c, err
}
