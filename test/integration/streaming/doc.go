// Package streaming tests the API server's side of pods/log, exec, attach and
// portforward against a fake node endpoint (no containers): what it asks the node, how it
// authenticates, and how node answers reach kubectl.
package streaming
