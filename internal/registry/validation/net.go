package validation

import (
	"fmt"
	"net/netip"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// parseIP parses an address the way Kubernetes does for legacy fields
// (IPv4-mapped IPv6 counts as IPv4). ok is false for garbage.
func parseIP(s string) (netip.Addr, bool) {
	addr, err := netip.ParseAddr(s)
	if err != nil || addr.Zone() != "" {
		return netip.Addr{}, false
	}
	return addr.Unmap(), true
}

func isIPv6String(s string) bool {
	addr, ok := parseIP(s)
	return ok && addr.Is6()
}

// isDualStack reports whether ips hold at least one IPv4 and one IPv6
// address (entries may be addresses or CIDRs).
func isDualStack(ips []string) bool {
	v4, v6 := false, false
	for _, s := range ips {
		if i := strings.IndexByte(s, '/'); i >= 0 {
			s = s[:i]
		}
		addr, ok := parseIP(s)
		if !ok {
			return false
		}
		if addr.Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v4 && v6
}

// ValidateNonSpecialIP rejects addresses that make no sense as an endpoint
// or external IP: unspecified, loopback and link-local.
func ValidateNonSpecialIP(ip string, fldPath *field.Path) field.ErrorList {
	addr, ok := parseIP(ip)
	if !ok {
		return field.ErrorList{field.Invalid(fldPath, ip, "must be a valid IP address")}
	}
	var allErrs field.ErrorList
	if addr.IsUnspecified() {
		allErrs = append(allErrs, field.Invalid(fldPath, ip, fmt.Sprintf("may not be unspecified (%v)", ip)))
	}
	if addr.IsLoopback() {
		allErrs = append(allErrs, field.Invalid(fldPath, ip, "may not be in the loopback range (127.0.0.0/8, ::1/128)"))
	}
	if addr.IsLinkLocalUnicast() {
		allErrs = append(allErrs, field.Invalid(fldPath, ip, "may not be in the link-local range (169.254.0.0/16, fe80::/10)"))
	}
	if addr.IsLinkLocalMulticast() {
		allErrs = append(allErrs, field.Invalid(fldPath, ip, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)"))
	}
	return allErrs
}
