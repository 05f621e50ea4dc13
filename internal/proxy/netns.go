package proxy

import (
	"context"
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
	"sigs.k8s.io/knftables"
)

// NewNFTables returns the nftables interface for the proxy's table in the network
// namespace at netnsPath (e.g. /run/netns/<name>), or in the caller's own when empty.
// knftables runs the nft binary; a child process starts in the network namespace of the
// thread that forks it, so every call runs on a thread that entered netnsPath.
func NewNFTables(netnsPath string) (knftables.Interface, error) {
	if netnsPath == "" {
		return knftables.New(knftables.IPv4Family, TableName)
	}
	var nft knftables.Interface
	err := inNetNS(netnsPath, func() error {
		var err error
		nft, err = knftables.New(knftables.IPv4Family, TableName)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &netnsNFT{path: netnsPath, nft: nft}, nil
}

// inNetNS runs fn on a fresh OS thread inside the network namespace at path. The thread
// is never unlocked, so it exits with its goroutine and cannot carry the namespace to
// other goroutines.
func inNetNS(path string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", path, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// netnsNFT runs every call of a knftables.Interface inside a network namespace.
type netnsNFT struct {
	path string
	nft  knftables.Interface
}

func inNetNSResult[T any](path string, fn func() (T, error)) (T, error) {
	var out T
	err := inNetNS(path, func() error {
		var err error
		out, err = fn()
		return err
	})
	return out, err
}

func (n *netnsNFT) NewTransaction() *knftables.Transaction { return n.nft.NewTransaction() }

func (n *netnsNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	return inNetNS(n.path, func() error { return n.nft.Run(ctx, tx) })
}

func (n *netnsNFT) Check(ctx context.Context, tx *knftables.Transaction) error {
	return inNetNS(n.path, func() error { return n.nft.Check(ctx, tx) })
}

func (n *netnsNFT) ListAll(ctx context.Context) (map[string][]string, error) {
	return inNetNSResult(n.path, func() (map[string][]string, error) { return n.nft.ListAll(ctx) })
}

func (n *netnsNFT) List(ctx context.Context, objectType string) ([]string, error) {
	return inNetNSResult(n.path, func() ([]string, error) { return n.nft.List(ctx, objectType) })
}

func (n *netnsNFT) ListRules(ctx context.Context, chain string) ([]*knftables.Rule, error) {
	return inNetNSResult(n.path, func() ([]*knftables.Rule, error) { return n.nft.ListRules(ctx, chain) })
}

func (n *netnsNFT) ListElements(ctx context.Context, objectType, name string) ([]*knftables.Element, error) {
	return inNetNSResult(n.path, func() ([]*knftables.Element, error) { return n.nft.ListElements(ctx, objectType, name) })
}

func (n *netnsNFT) ListCounters(ctx context.Context) ([]*knftables.Counter, error) {
	return inNetNSResult(n.path, func() ([]*knftables.Counter, error) { return n.nft.ListCounters(ctx) })
}
