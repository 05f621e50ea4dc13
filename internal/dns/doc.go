// Package dns is berth's cluster DNS: it answers for the cluster domain (services,
// headless endpoints, SRV, pods, reverse lookups) from an in-memory view of Services and
// EndpointSlices, following the Kubernetes DNS specification and, where that is silent,
// CoreDNS's kubernetes plugin; it forwards every other name to the node's upstream
// resolvers.
//
// Resolver turns one question into records; Server serves it on UDP and TCP. UDP
// queries are read by the server's own loop (miekg/dns serves TCP, and UDP on wildcard
// addresses): replies to cluster questions are kept packed, keyed by the question's
// bytes, and served again without parsing or allocating for as long as the Source's
// Version stays the same.
//
// It reads the API only through the Source it is given (InformerSource over shared
// informers, MemorySource for tests and benchmarks); it never writes.
package dns
