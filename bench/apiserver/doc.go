// Package apiserver benchmarks the berth binary as an API server: start-to-ready time
// (fresh and restart), idle RSS and CPU, create/get/update/list latency at 1 and 50
// concurrent clients, and watch fan-out latency (1 writer, 100 watchers). It runs the
// binary as a subprocess on loopback and measures from outside; it asserts nothing.
package apiserver
