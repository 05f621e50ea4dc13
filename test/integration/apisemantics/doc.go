// Package apisemantics checks the API server's semantics as a client-go program sees
// them, against a real server on embedded or external etcd: informers (watch-list and
// list+watch), optimistic concurrency, watch resume, bookmarks, 410 Gone, paging, and
// that bad input gets the proper 4xx Status while the server stays healthy. It holds
// tests only.
package apisemantics
