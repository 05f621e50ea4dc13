// Package stream is the storage.Watch implementation shared by the backends: a buffered
// event channel fed by one producer goroutine, closed exactly once with the reason.
//
// It owns only the hand-off to the watcher; it must not know where events come from.
package stream
