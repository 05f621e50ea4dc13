package nftlink

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// setType is what encoding a set's or map's elements needs: its key type (several for a
// concatenation) and, for a map, its data type (verdicts, or values of the types in
// data).
type setType struct {
	key     []string
	data    []string
	verdict bool
}

func (t setType) isMap() bool { return t.verdict || len(t.data) > 0 }

// keyTypes are the element types this package encodes. "numgen" is the 32-bit
// host-order integer of a `numgen … mod N` expression (in a typeof).
var keyTypes = map[string]nftables.SetDatatype{
	"ipv4_addr":    nftables.TypeIPAddr,
	"inet_proto":   nftables.TypeInetProto,
	"inet_service": nftables.TypeInetService,
	"numgen":       nftables.TypeInteger,
}

// parseSetType parses "ipv4_addr . inet_proto . inet_service : verdict" (or one type,
// for a set); types it cannot encode are an error.
func parseSetType(s string) (setType, error) {
	keyText, data, isMap := strings.Cut(s, ":")
	t := setType{}
	for _, k := range strings.Split(keyText, ".") {
		k = strings.TrimSpace(k)
		if _, ok := keyTypes[k]; !ok || k == "numgen" {
			return setType{}, fmt.Errorf("unsupported key type %q", k)
		}
		t.key = append(t.key, k)
	}
	if isMap {
		if data = strings.TrimSpace(data); data != "verdict" {
			return setType{}, fmt.Errorf("unsupported map data type %q", data)
		}
		t.verdict = true
	}
	return t, nil
}

// typeofTypes are the expressions of a typeof this package encodes, by their type.
var typeofTypes = map[string]string{
	"ip daddr": "ipv4_addr", "ip saddr": "ipv4_addr",
	"meta l4proto": "inet_proto",
	"th dport":     "inet_service", "th sport": "inet_service",
}

// parseTypeOf parses the text after `typeof` of a set or map made of the expressions in
// typeofTypes and `numgen random mod N`, e.g. "ip daddr . meta l4proto . th dport .
// numgen random mod 2 : ip daddr . th dport".
func parseTypeOf(s string) (setType, error) {
	parse := func(text string) ([]string, error) {
		var out []string
		for _, e := range strings.Split(text, " . ") {
			e = strings.Join(strings.Fields(e), " ")
			if typ, ok := typeofTypes[e]; ok {
				out = append(out, typ)
				continue
			}
			if n, ok := strings.CutPrefix(e, "numgen random mod "); ok {
				if _, err := strconv.ParseUint(n, 10, 32); err == nil {
					out = append(out, "numgen")
					continue
				}
			}
			return nil, fmt.Errorf("unsupported typeof expression %q", e)
		}
		return out, nil
	}
	keyText, dataText, isMap := strings.Cut(s, " : ")
	key, err := parse(keyText)
	if err != nil {
		return setType{}, err
	}
	t := setType{key: key}
	if isMap {
		if t.data, err = parse(dataText); err != nil {
			return setType{}, err
		}
	}
	return t, nil
}

// datatype is the key type as the kernel knows it.
func (t setType) datatype() (nftables.SetDatatype, error) {
	types := make([]nftables.SetDatatype, len(t.key))
	for i, k := range t.key {
		types[i] = keyTypes[k]
	}
	if len(types) == 1 {
		return types[0], nil
	}
	return nftables.ConcatSetType(types...)
}

// encodeKey encodes the parts of an element's key.
func (t setType) encodeKey(parts []string) ([]byte, error) { return encodeValue(t.key, parts) }

// encodeData encodes the parts of a map element's value.
func (t setType) encodeData(parts []string) ([]byte, error) { return encodeValue(t.data, parts) }

// encodeValue encodes parts of the types types; in a concatenation every part takes a
// multiple of 4 bytes (the register size), as nft lays it out.
func encodeValue(types, parts []string) ([]byte, error) {
	if len(parts) != len(types) {
		return nil, fmt.Errorf("value %q has %d parts, type %q %d", strings.Join(parts, " . "), len(parts), strings.Join(types, " . "), len(types))
	}
	var out []byte
	for i, part := range parts {
		var b []byte
		switch types[i] {
		case "ipv4_addr":
			addr, err := netip.ParseAddr(part)
			if err != nil || !addr.Is4() {
				return nil, fmt.Errorf("IPv4 address %q", part)
			}
			a := addr.As4()
			b = a[:]
		case "inet_proto":
			proto, err := protoNumber(part)
			if err != nil {
				return nil, err
			}
			b = []byte{proto}
		case "inet_service":
			port, err := parsePort(part)
			if err != nil {
				return nil, err
			}
			b = binaryutil.BigEndian.PutUint16(port)
		case "numgen":
			n, err := strconv.ParseUint(part, 10, 32)
			if err != nil {
				return nil, fmt.Errorf("integer %q", part)
			}
			b = binaryutil.NativeEndian.PutUint32(uint32(n))
		}
		out = append(out, b...)
		if len(types) > 1 && len(b)%4 != 0 {
			out = append(out, make([]byte, 4-len(b)%4)...)
		}
	}
	return out, nil
}

// parseVerdict parses a verdict map's value: jump/goto CHAIN, drop, accept or return.
func parseVerdict(s string) (*expr.Verdict, error) {
	p := &ruleParser{tokens: strings.Fields(s)}
	v, err := p.verdict(p.next())
	if err != nil {
		return nil, err
	}
	if p.peek() != "" {
		return nil, fmt.Errorf("verdict %q", s)
	}
	return v, nil
}

// setSpec is a named set as `add set` describes it: { type T ; [flags F ;] [timeout Ns ;] }.
type setSpec struct {
	typ               setType
	dynamic, timeouts bool
	timeout           time.Duration
}

func parseSetSpec(fields []string) (setSpec, error) {
	var spec setSpec
	if len(fields) < 2 || fields[0] != "{" || fields[len(fields)-1] != "}" {
		return spec, fmt.Errorf("set body %q", strings.Join(fields, " "))
	}
	// Split the body into its ";"-terminated clauses.
	var clauses [][]string
	var cur []string
	for _, f := range fields[1 : len(fields)-1] {
		if f == ";" {
			clauses = append(clauses, cur)
			cur = nil
			continue
		}
		cur = append(cur, f)
	}
	if len(cur) > 0 {
		return spec, fmt.Errorf("set body %q: clause without ;", strings.Join(fields, " "))
	}
	seenType := false
	for _, c := range clauses {
		switch {
		case len(c) >= 2 && c[0] == "type":
			t, err := parseSetType(strings.Join(c[1:], " "))
			if err != nil {
				return spec, err
			}
			spec.typ, seenType = t, true
		case len(c) == 2 && c[0] == "flags":
			for _, flag := range strings.Split(c[1], ",") {
				switch flag {
				case "dynamic":
					spec.dynamic = true
				case "timeout":
					spec.timeouts = true
				default:
					return spec, fmt.Errorf("unsupported set flag %q", flag)
				}
			}
		case len(c) == 2 && c[0] == "timeout":
			seconds, ok := strings.CutSuffix(c[1], "s")
			n, err := strconv.ParseUint(seconds, 10, 32)
			if !ok || err != nil {
				return spec, fmt.Errorf("set timeout %q", c[1])
			}
			spec.timeout = time.Duration(n) * time.Second
		default:
			return spec, fmt.Errorf("unsupported set clause %q", strings.Join(c, " "))
		}
	}
	if !seenType {
		return spec, fmt.Errorf("set without a type")
	}
	if spec.timeout != 0 && !spec.timeouts {
		return spec, fmt.Errorf("set timeout without the timeout flag")
	}
	return spec, nil
}

// def is the set called name as the kernel takes it.
func (s setSpec) def(name string) (setDef, error) {
	key, err := s.typ.datatype()
	if err != nil {
		return setDef{}, err
	}
	def := setDef{name: name, key: key, timeout: s.timeout, verdicts: s.typ.verdict}
	if s.dynamic {
		def.flags |= unix.NFT_SET_EVAL
	}
	if s.timeouts {
		def.flags |= unix.NFT_SET_TIMEOUT
	}
	if def.verdicts {
		def.flags |= unix.NFT_SET_MAP
	}
	return def, nil
}
