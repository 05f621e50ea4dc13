// Package controller holds what every control loop shares: the Context a controller is
// built from (API clients, shared informers, event recording, logger) and leader election
// around the set of loops. Controllers live in sub-packages, one per concern; each is an
// API client only (informer → workqueue → sync(key)) and never touches storage.
package controller
