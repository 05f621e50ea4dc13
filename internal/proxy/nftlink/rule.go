package nftlink

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// The registers nft uses for these expressions: reg 0 is the verdict, reg 1 the value
// being matched, reg 2 a NAT port.
const (
	verdictReg = 0
	matchReg   = 1
	portReg    = 2
)

// rtnLocal is RTN_LOCAL, the fib address type of `fib ... type local`.
const rtnLocal = 2

// ruleParser turns the text of one rule into the expressions nft would send for it
// (`nft --debug=netlink` shows them; the tests compare the kernel's copy byte for
// byte). It knows a small grammar: matches on ip saddr/daddr (address, prefix or
// @set, optionally !=), tcp/udp/sctp dport/sport, meta l4proto, fib saddr/daddr type
// local and numgen random mod N [==] K; then the statements update @set { ip saddr },
// dnat to addr[:port], jump/goto/drop/accept/return and numgen random mod N vmap { … }.
// Anything else is an error, and the transaction goes to nft instead.
type ruleParser struct {
	tokens []string
	pos    int
	// b receives the anonymous map of a numgen vmap.
	b     *batch
	exprs []expr.Any
}

func (p *ruleParser) next() string {
	if p.pos >= len(p.tokens) {
		return ""
	}
	p.pos++
	return p.tokens[p.pos-1]
}

func (p *ruleParser) peek() string {
	if p.pos >= len(p.tokens) {
		return ""
	}
	return p.tokens[p.pos]
}

func (p *ruleParser) expect(words ...string) error {
	for _, w := range words {
		if got := p.next(); got != w {
			return fmt.Errorf("expected %q, found %q", w, got)
		}
	}
	return nil
}

func (p *ruleParser) add(e ...expr.Any) { p.exprs = append(p.exprs, e...) }

// parseRule translates rule (the text after `add rule <family> <table> <chain>`).
func parseRule(rule string, b *batch) ([]expr.Any, error) {
	p := &ruleParser{tokens: strings.Fields(rule), b: b}
	if len(p.tokens) == 0 {
		return nil, fmt.Errorf("empty rule")
	}
	for p.peek() != "" {
		terminal, err := p.statement()
		if err != nil {
			return nil, fmt.Errorf("rule %q: %w", rule, err)
		}
		if terminal && p.peek() != "" {
			return nil, fmt.Errorf("rule %q: %q after a verdict", rule, p.peek())
		}
	}
	return p.exprs, nil
}

// statement translates one match or statement; terminal says it was a verdict.
func (p *ruleParser) statement() (terminal bool, err error) {
	switch word := p.next(); word {
	case "ip":
		return false, p.ipMatch()
	case "tcp", "udp", "sctp":
		return false, p.portMatch(word)
	case "meta":
		if err := p.expect("l4proto"); err != nil {
			return false, err
		}
		proto, err := protoNumber(p.next())
		if err != nil {
			return false, err
		}
		p.add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: matchReg}, cmp(expr.CmpOpEq, []byte{proto}))
		return false, nil
	case "fib":
		fib := &expr.Fib{Register: matchReg, ResultADDRTYPE: true}
		switch dir := p.next(); dir {
		case "saddr":
			fib.FlagSADDR = true
		case "daddr":
			fib.FlagDADDR = true
		default:
			return false, fmt.Errorf("fib %q", dir)
		}
		if err := p.expect("type", "local"); err != nil {
			return false, err
		}
		p.add(fib, cmp(expr.CmpOpEq, binaryutil.NativeEndian.PutUint32(rtnLocal)))
		return false, nil
	case "update":
		set, ok := strings.CutPrefix(p.next(), "@")
		if !ok || set == "" {
			return false, fmt.Errorf("update needs a @set")
		}
		if err := p.expect("{", "ip", "saddr", "}"); err != nil {
			return false, err
		}
		p.add(ipField("saddr"), &expr.Dynset{SrcRegKey: matchReg, SetName: set, Operation: unix.NFT_DYNSET_OP_UPDATE})
		return false, nil
	case "dnat":
		return false, p.dnat()
	case "numgen":
		return p.numgen()
	default:
		v, err := p.verdict(word)
		if err != nil {
			return false, err
		}
		p.add(v)
		return true, nil
	}
}

// verdict parses jump/goto CHAIN, drop, accept or return, word being the first token.
func (p *ruleParser) verdict(word string) (*expr.Verdict, error) {
	switch word {
	case "jump", "goto":
		chain := p.next()
		if chain == "" || strings.ContainsAny(chain, "{},:@\"") {
			return nil, fmt.Errorf("%s to %q", word, chain)
		}
		kind := expr.VerdictJump
		if word == "goto" {
			kind = expr.VerdictGoto
		}
		return &expr.Verdict{Kind: kind, Chain: chain}, nil
	case "drop":
		return &expr.Verdict{Kind: expr.VerdictDrop}, nil
	case "accept":
		return &expr.Verdict{Kind: expr.VerdictAccept}, nil
	case "return":
		return &expr.Verdict{Kind: expr.VerdictReturn}, nil
	}
	return nil, fmt.Errorf("unsupported statement %q", word)
}

// ipMatch: ip saddr|daddr [!=] ADDR|PREFIX|@SET.
func (p *ruleParser) ipMatch() error {
	field := p.next()
	if field != "saddr" && field != "daddr" {
		return fmt.Errorf("ip %q", field)
	}
	op := expr.CmpOpEq
	if p.peek() == "!=" {
		p.next()
		op = expr.CmpOpNeq
	}
	value := p.next()
	if set, ok := strings.CutPrefix(value, "@"); ok {
		if set == "" {
			return fmt.Errorf("empty set name")
		}
		p.add(ipField(field), &expr.Lookup{SourceRegister: matchReg, SetName: set, Invert: op == expr.CmpOpNeq})
		return nil
	}
	prefix, err := parseIPv4Prefix(value)
	if err != nil {
		return err
	}
	bits, addr := prefix.Bits(), prefix.Addr().As4()
	load := ipField(field)
	switch {
	case bits == 32:
		p.add(load, cmp(op, addr[:]))
	case bits%8 == 0 && bits > 0:
		// nft compares only the bytes a byte-aligned prefix covers.
		load.Len = uint32(bits / 8)
		p.add(load, cmp(op, addr[:bits/8]))
	case bits > 0:
		m := prefixMask(bits)
		p.add(load,
			&expr.Bitwise{SourceRegister: matchReg, DestRegister: matchReg, Len: 4, Mask: m[:], Xor: make([]byte, 4)},
			cmp(op, addr[:]))
	default:
		return fmt.Errorf("prefix %s matches everything", value)
	}
	return nil
}

func prefixMask(bits int) [4]byte {
	var m [4]byte
	for i := range bits {
		m[i/8] |= 0x80 >> (i % 8)
	}
	return m
}

// portMatch: tcp|udp|sctp dport|sport [!=] N, with nft's implicit `meta l4proto`.
func (p *ruleParser) portMatch(protoName string) error {
	proto, _ := protoNumber(protoName)
	var offset uint32
	switch field := p.next(); field {
	case "sport":
		offset = 0
	case "dport":
		offset = 2
	default:
		return fmt.Errorf("%s %q", protoName, field)
	}
	op := expr.CmpOpEq
	if p.peek() == "!=" {
		p.next()
		op = expr.CmpOpNeq
	}
	port, err := parsePort(p.next())
	if err != nil {
		return err
	}
	p.add(&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: matchReg}, cmp(expr.CmpOpEq, []byte{proto}),
		&expr.Payload{DestRegister: matchReg, Base: expr.PayloadBaseTransportHeader, Offset: offset, Len: 2},
		cmp(op, binaryutil.BigEndian.PutUint16(port)))
	return nil
}

// dnat: dnat to ADDR[:PORT].
func (p *ruleParser) dnat() error {
	if err := p.expect("to"); err != nil {
		return err
	}
	target := p.next()
	host, portText, hasPort := strings.Cut(target, ":")
	addr, err := netip.ParseAddr(host)
	if err != nil || !addr.Is4() {
		return fmt.Errorf("dnat to %q", target)
	}
	a := addr.As4()
	nat := &expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: matchReg}
	p.add(&expr.Immediate{Register: matchReg, Data: a[:]})
	if hasPort {
		port, err := parsePort(portText)
		if err != nil {
			return err
		}
		p.add(&expr.Immediate{Register: portReg, Data: binaryutil.BigEndian.PutUint16(port)})
		nat.RegProtoMin, nat.Specified = portReg, true
	}
	p.add(nat)
	return nil
}

// numgen: numgen random mod N, then either [==] K (a match, N > K) or vmap { … }
// (terminal).
func (p *ruleParser) numgen() (terminal bool, err error) {
	if err := p.expect("random", "mod"); err != nil {
		return false, err
	}
	mod, err := strconv.ParseUint(p.next(), 10, 32)
	if err != nil || mod == 0 {
		return false, fmt.Errorf("numgen modulus: %v", err)
	}
	if p.peek() == "vmap" {
		return true, p.numgenVmap(uint32(mod))
	}
	if p.peek() == "==" {
		p.next()
	}
	value, err := strconv.ParseUint(p.next(), 10, 32)
	if err != nil || value >= mod {
		return false, fmt.Errorf("numgen random mod %d compared with %d: %v", mod, value, err)
	}
	// numgen yields a host-order number.
	p.add(&expr.Numgen{Register: matchReg, Modulus: uint32(mod), Type: unix.NFT_NG_RANDOM},
		cmp(expr.CmpOpEq, binaryutil.NativeEndian.PutUint32(uint32(value))))
	return false, nil
}

// numgenVmap: (numgen random mod N) vmap { 0 : VERDICT , 1 : VERDICT … }, an anonymous
// constant map in the same batch as the rule.
func (p *ruleParser) numgenVmap(mod uint32) error {
	if err := p.expect("vmap", "{"); err != nil {
		return err
	}
	var elems []element
	for {
		key, err := strconv.ParseUint(p.next(), 10, 32)
		if err != nil {
			return fmt.Errorf("vmap key: %w", err)
		}
		if err := p.expect(":"); err != nil {
			return err
		}
		v, err := p.verdict(p.next())
		if err != nil {
			return err
		}
		// numgen yields a host-order number.
		elems = append(elems, element{key: binaryutil.NativeEndian.PutUint32(uint32(key)), verdict: v})
		sep := p.next()
		if sep == "}" {
			break
		}
		if sep != "," {
			return fmt.Errorf("vmap: expected , or }, found %q", sep)
		}
	}
	const name = "__map%d" // the kernel numbers anonymous maps
	id, err := p.b.addSet(setDef{
		name: name, flags: unix.NFT_SET_ANONYMOUS | unix.NFT_SET_CONSTANT | unix.NFT_SET_MAP,
		key: nftables.TypeInteger, hostOrder: true, verdicts: true, size: uint32(len(elems)),
	})
	if err != nil {
		return err
	}
	if err := p.b.elements(true, name, id, elems); err != nil {
		return err
	}
	p.add(&expr.Numgen{Register: matchReg, Modulus: mod, Type: unix.NFT_NG_RANDOM},
		&expr.Lookup{SourceRegister: matchReg, DestRegister: verdictReg, IsDestRegSet: true, SetName: name, SetID: id})
	return nil
}

func ipField(field string) *expr.Payload {
	offset := uint32(12) // saddr
	if field == "daddr" {
		offset = 16
	}
	return &expr.Payload{DestRegister: matchReg, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4}
}

func cmp(op expr.CmpOp, data []byte) *expr.Cmp {
	return &expr.Cmp{Op: op, Register: matchReg, Data: data}
}

func parseIPv4Prefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		prefix, err := netip.ParsePrefix(s)
		if err != nil || !prefix.Addr().Is4() || prefix.Masked() != prefix {
			return netip.Prefix{}, fmt.Errorf("IPv4 prefix %q", s)
		}
		return prefix, nil
	}
	addr, err := netip.ParseAddr(s)
	if err != nil || !addr.Is4() {
		return netip.Prefix{}, fmt.Errorf("IPv4 address %q", s)
	}
	return netip.PrefixFrom(addr, 32), nil
}

func parsePort(s string) (uint16, error) {
	n, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("port %q", s)
	}
	return uint16(n), nil
}

func protoNumber(s string) (byte, error) {
	switch s {
	case "tcp":
		return unix.IPPROTO_TCP, nil
	case "udp":
		return unix.IPPROTO_UDP, nil
	case "sctp":
		return unix.IPPROTO_SCTP, nil
	case "icmp":
		return unix.IPPROTO_ICMP, nil
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("protocol %q", s)
	}
	return byte(n), nil
}
