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
// concatenation) and, for a map, its data type.
type setType struct {
	key  []string
	data string // "" for a set
}

// keyTypes are the element types this package encodes.
var keyTypes = map[string]nftables.SetDatatype{
	"ipv4_addr":    nftables.TypeIPAddr,
	"inet_proto":   nftables.TypeInetProto,
	"inet_service": nftables.TypeInetService,
}

// parseSetType parses "ipv4_addr . inet_proto . inet_service : verdict" (or one type,
// for a set); types it cannot encode are an error.
func parseSetType(s string) (setType, error) {
	keyText, data, isMap := strings.Cut(s, ":")
	t := setType{}
	for _, k := range strings.Split(keyText, ".") {
		k = strings.TrimSpace(k)
		if _, ok := keyTypes[k]; !ok {
			return setType{}, fmt.Errorf("unsupported key type %q", k)
		}
		t.key = append(t.key, k)
	}
	if isMap {
		if t.data = strings.TrimSpace(data); t.data != "verdict" {
			return setType{}, fmt.Errorf("unsupported map data type %q", t.data)
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

// encodeKey encodes the parts of an element's key; in a concatenation every part takes
// a multiple of 4 bytes (the register size), as nft lays it out.
func (t setType) encodeKey(parts []string) ([]byte, error) {
	if len(parts) != len(t.key) {
		return nil, fmt.Errorf("key %q has %d parts, type %q %d", strings.Join(parts, " . "), len(parts), strings.Join(t.key, " . "), len(t.key))
	}
	var out []byte
	for i, part := range parts {
		var b []byte
		switch t.key[i] {
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
		}
		out = append(out, b...)
		if len(t.key) > 1 && len(b)%4 != 0 {
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
	def := setDef{name: name, key: key, timeout: s.timeout, verdicts: s.typ.data == "verdict"}
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
