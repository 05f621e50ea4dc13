package proxy

import (
	"sigs.k8s.io/knftables"

	"github.com/berth/berth/internal/netns"
	"github.com/berth/berth/internal/proxy/nftlink"
)

// NewNFTables returns the nftables interface for the proxy's table (TableName, and the
// tables of older versions it deletes) in the network namespace at netnsPath (e.g.
// /run/netns/<name>), or in the caller's own when empty: it has no default table,
// every object names its own. Incremental syncs go to the kernel over netlink; the
// full rebuild, new class maps and anything else nftlink does not translate run the
// nft binary (see package nftlink). It is a TableLister.
func NewNFTables(netnsPath string) (knftables.Interface, error) {
	exec, err := netns.NFTables(netnsPath, "", "")
	if err != nil {
		return nil, err
	}
	return nftlink.New(exec, netnsPath), nil
}
