// Package dns is berth's cluster DNS: it answers for the cluster domain (services,
// headless endpoints, pods, reverse lookups) from an in-memory view of Services and
// EndpointSlices, and forwards every other name to the node's upstream resolvers.
// It reads the API only through the Source it is given; it never writes.
package dns
