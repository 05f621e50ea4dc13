// Package robustness runs the real berth binary as a subprocess and checks that no
// acknowledged write is lost when it is killed (SIGKILL) or stopped (SIGTERM) during
// writes, and that it is ready again quickly after a restart. It holds tests only.
package robustness
