// Package server wires one `berth server` process: credentials, storage (embedded or
// external etcd), the registry, the API server and its listener. It is the one place that
// knows every part; the parts know nothing of each other beyond their interfaces.
package server
