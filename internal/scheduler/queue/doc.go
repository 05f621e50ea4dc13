// Package queue holds pods waiting to be scheduled: an active heap ordered by priority
// then creation time, a backoff heap for pods that failed recently, and an unschedulable
// set whose pods move back only on cluster events that may help them (or after a periodic
// flush). Pop blocks; nothing polls.
package queue
