// Package netns runs code inside a Linux network namespace. A goroutine locks its OS
// thread, enters the namespace and runs the function; the thread is never unlocked, so
// it exits with the goroutine and the namespace never leaks to other goroutines.
// Sockets created there stay in the namespace; so do processes the thread forks.
package netns

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// Path is where `ip netns add name` mounts a namespace.
func Path(name string) string { return "/run/netns/" + name }

// Do runs fn on a fresh OS thread inside the network namespace at path and returns its
// error; an empty path is the caller's own namespace, where fn simply runs.
func Do(path string, fn func() error) error {
	if path == "" {
		return fn()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("open netns %s: %w", path, err)
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("enter netns %s: %w", path, err)
			return
		}
		errc <- fn()
	}()
	return <-errc
}

// Value is Do for a function with a result.
func Value[T any](path string, fn func() (T, error)) (T, error) {
	var out T
	err := Do(path, func() error {
		var err error
		out, err = fn()
		return err
	})
	return out, err
}
