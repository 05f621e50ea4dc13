package proxy

import (
	"sigs.k8s.io/knftables"

	"github.com/berth/berth/internal/netns"
)

// NewNFTables returns the nftables interface for the proxy's table in the network
// namespace at netnsPath (e.g. /run/netns/<name>), or in the caller's own when empty.
func NewNFTables(netnsPath string) (knftables.Interface, error) {
	return netns.NFTables(netnsPath, knftables.IPv4Family, TableName)
}
