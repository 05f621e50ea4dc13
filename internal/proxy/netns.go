package proxy

import (
	"context"

	"sigs.k8s.io/knftables"

	"github.com/berth/berth/internal/proxy/netns"
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
	err := netns.Do(netnsPath, func() error {
		var err error
		nft, err = knftables.New(knftables.IPv4Family, TableName)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &netnsNFT{path: netnsPath, nft: nft}, nil
}

// netnsNFT runs every call of a knftables.Interface inside a network namespace.
type netnsNFT struct {
	path string
	nft  knftables.Interface
}

func (n *netnsNFT) NewTransaction() *knftables.Transaction { return n.nft.NewTransaction() }

func (n *netnsNFT) Run(ctx context.Context, tx *knftables.Transaction) error {
	return netns.Do(n.path, func() error { return n.nft.Run(ctx, tx) })
}

func (n *netnsNFT) Check(ctx context.Context, tx *knftables.Transaction) error {
	return netns.Do(n.path, func() error { return n.nft.Check(ctx, tx) })
}

func (n *netnsNFT) ListAll(ctx context.Context) (map[string][]string, error) {
	return netns.Value(n.path, func() (map[string][]string, error) { return n.nft.ListAll(ctx) })
}

func (n *netnsNFT) List(ctx context.Context, objectType string) ([]string, error) {
	return netns.Value(n.path, func() ([]string, error) { return n.nft.List(ctx, objectType) })
}

func (n *netnsNFT) ListRules(ctx context.Context, chain string) ([]*knftables.Rule, error) {
	return netns.Value(n.path, func() ([]*knftables.Rule, error) { return n.nft.ListRules(ctx, chain) })
}

func (n *netnsNFT) ListElements(ctx context.Context, objectType, name string) ([]*knftables.Element, error) {
	return netns.Value(n.path, func() ([]*knftables.Element, error) { return n.nft.ListElements(ctx, objectType, name) })
}

func (n *netnsNFT) ListCounters(ctx context.Context) ([]*knftables.Counter, error) {
	return netns.Value(n.path, func() ([]*knftables.Counter, error) { return n.nft.ListCounters(ctx) })
}
