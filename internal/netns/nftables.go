package netns

import (
	"context"

	"sigs.k8s.io/knftables"
)

// NFTables returns the nftables interface for one table in the network namespace at
// path, or in the caller's own when path is empty. knftables runs the nft binary; a
// child process starts in the network namespace of the thread that forks it, so every
// call runs on a thread that entered path.
func NFTables(path string, family knftables.Family, table string) (knftables.Interface, error) {
	if path == "" {
		return knftables.New(family, table)
	}
	nft, err := Value(path, func() (knftables.Interface, error) { return knftables.New(family, table) })
	if err != nil {
		return nil, err
	}
	return &nftInNetNS{path: path, nft: nft}, nil
}

// nftInNetNS runs every call of a knftables.Interface inside a network namespace.
type nftInNetNS struct {
	path string
	nft  knftables.Interface
}

func (n *nftInNetNS) NewTransaction() *knftables.Transaction { return n.nft.NewTransaction() }

func (n *nftInNetNS) Run(ctx context.Context, tx *knftables.Transaction) error {
	return Do(n.path, func() error { return n.nft.Run(ctx, tx) })
}

func (n *nftInNetNS) Check(ctx context.Context, tx *knftables.Transaction) error {
	return Do(n.path, func() error { return n.nft.Check(ctx, tx) })
}

func (n *nftInNetNS) ListAll(ctx context.Context) (map[string][]string, error) {
	return Value(n.path, func() (map[string][]string, error) { return n.nft.ListAll(ctx) })
}

func (n *nftInNetNS) List(ctx context.Context, objectType string) ([]string, error) {
	return Value(n.path, func() ([]string, error) { return n.nft.List(ctx, objectType) })
}

func (n *nftInNetNS) ListRules(ctx context.Context, chain string) ([]*knftables.Rule, error) {
	return Value(n.path, func() ([]*knftables.Rule, error) { return n.nft.ListRules(ctx, chain) })
}

func (n *nftInNetNS) ListElements(ctx context.Context, objectType, name string) ([]*knftables.Element, error) {
	return Value(n.path, func() ([]*knftables.Element, error) { return n.nft.ListElements(ctx, objectType, name) })
}

func (n *nftInNetNS) ListCounters(ctx context.Context) ([]*knftables.Counter, error) {
	return Value(n.path, func() ([]*knftables.Counter, error) { return n.nft.ListCounters(ctx) })
}
