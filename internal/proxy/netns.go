package proxy

import (
	"sigs.k8s.io/knftables"

	"github.com/berth/berth/internal/netns"
	"github.com/berth/berth/internal/proxy/nftlink"
)

// NewNFTables returns the nftables interface for the proxy's table in the network
// namespace at netnsPath (e.g. /run/netns/<name>), or in the caller's own when empty.
// Incremental syncs go to the kernel over netlink; the full rebuild and anything else
// nftlink does not translate run the nft binary (see package nftlink).
func NewNFTables(netnsPath string) (knftables.Interface, error) {
	exec, err := netns.NFTables(netnsPath, knftables.IPv4Family, TableName)
	if err != nil {
		return nil, err
	}
	return nftlink.New(exec, netnsPath, TableName), nil
}
