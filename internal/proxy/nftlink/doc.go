// Package nftlink is a knftables.Interface that writes transactions to the kernel over
// netlink (github.com/google/nftables) instead of running the nft binary, for the
// transactions it can translate.
//
// Why: nft (1.0.6 here) fetches every chain and set of the namespace into its cache
// before a transaction that adds a rule or an element, so with the service proxy's
// tables a one-Service change costs time in proportion to all of them. Over netlink
// the batch costs what it holds in user space; in the kernel, a commit that adds a
// jump, goto or verdict-map element still revalidates every chain reachable from the
// base chains of the tables it wrote to (nft_table_validate), which no writer avoids.
//
// A Table covers every table of the ip family in its namespace: a transaction may
// write to several (its objects name their tables, as knftables allows when the
// Interface has no default table), and stays one atomic batch. Tables lists them.
//
// One netlink socket is kept open between transactions (Close releases it): closing
// an nf_tables socket waits for the previous commit's deferred cleanup.
//
// What it translates is the text knftables would hand nft, one command a line, limited
// to what the proxy writes after its fixed table, in incremental syncs and the Services
// of a rebuild (see translate and parseRule): regular chains; named sets of ipv4_addr,
// inet_proto and inet_service keys (and their concatenations) with the dynamic and
// timeout flags; elements of such sets, of verdict maps and of data maps whose
// typeof is made of ip saddr/daddr, meta l4proto, th sport/dport and numgen random mod
// N (the proxy's class maps, keys and values concatenated); rules made of ip
// saddr/daddr, tcp/udp/sctp port, meta l4proto, fib … type local and numgen random
// mod N == K matches, `update @set { ip saddr }`, `dnat to`, numgen random vmaps and
// verdicts. The expressions are the ones nft itself sends for the same text (the
// tests compare the kernel's copies). A transaction with anything else (tables, base
// chains, maps, comments, other statements) goes to the nft binary whole, so each
// transaction stays atomic either way. Element keys are encoded from the set's type,
// which the Table learns from the transactions that created the set (nft runs those:
// the proxy's full sync, and the transactions that add a class map), table by table;
// a set it has not seen sends its transactions to nft.
//
// Listing (List, ListElements, …) and Check always use nft.
package nftlink
