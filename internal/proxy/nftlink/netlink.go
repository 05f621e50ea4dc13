package nftlink

import (
	"errors"
	"fmt"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// batch is a transaction as nf_tables netlink messages, not sent yet. The messages are
// built here rather than through google/nftables' Conn, whose set handling takes IDs
// from a process-wide counter (racing between tables) and marks every anonymous set's
// key as big-endian (so nft would list a numgen vmap's 1 as 16777216); the
// expressions are google/nftables'.
type batch struct {
	// table is the table the next messages are for (a batch may span several).
	table string
	msgs  []netlink.Message
	// added are the sets the batch creates, with their types; removed the ones it
	// deletes.
	added   map[setRef]setType
	removed map[setRef]bool
	lastID  uint32
}

// setRef names a set (or map) of a table.
type setRef struct{ table, name string }

func newBatch() *batch {
	return &batch{added: map[setRef]setType{}, removed: map[setRef]bool{}}
}

// message appends one nf_tables request to the batch. No message asks for an ack:
// the kernel reports only failures, and send learns that it is done from the answer to
// a request sent after the batch.
func (b *batch) message(msgType uint16, flags netlink.HeaderFlags, attrs ...netlink.Attribute) error {
	data, err := netlink.MarshalAttributes(attrs)
	if err != nil {
		return err
	}
	b.msgs = append(b.msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | msgType), Flags: netlink.Request | flags},
		Data:   append(nfgenmsg(unix.NFPROTO_IPV4, 0), data...),
	})
	return nil
}

// nfgenmsg is the header of every nfnetlink message: family, version, resource id.
func nfgenmsg(family byte, resID uint16) []byte {
	return append([]byte{family, unix.NFNETLINK_V0}, binaryutil.BigEndian.PutUint16(resID)...)
}

func str(attrType uint16, s string) netlink.Attribute {
	return netlink.Attribute{Type: attrType, Data: []byte(s + "\x00")}
}

func u32(attrType uint16, v uint32) netlink.Attribute {
	return netlink.Attribute{Type: attrType, Data: binaryutil.BigEndian.PutUint32(v)}
}

func nested(attrType uint16, attrs ...netlink.Attribute) (netlink.Attribute, error) {
	data, err := netlink.MarshalAttributes(attrs)
	return netlink.Attribute{Type: attrType | unix.NLA_F_NESTED, Data: data}, err
}

func (b *batch) addChain(name string) error {
	return b.message(unix.NFT_MSG_NEWCHAIN, netlink.Create, str(unix.NFTA_CHAIN_TABLE, b.table), str(unix.NFTA_CHAIN_NAME, name))
}

func (b *batch) flushChain(name string) error {
	return b.message(unix.NFT_MSG_DELRULE, 0, str(unix.NFTA_RULE_TABLE, b.table), str(unix.NFTA_RULE_CHAIN, name))
}

func (b *batch) delChain(name string) error {
	return b.message(unix.NFT_MSG_DELCHAIN, 0, str(unix.NFTA_CHAIN_TABLE, b.table), str(unix.NFTA_CHAIN_NAME, name))
}

// setDef is a set to create.
type setDef struct {
	name      string
	flags     uint32
	key       nftables.SetDatatype
	hostOrder bool // the key is in host byte order (else network order)
	verdicts  bool // a verdict map
	timeout   time.Duration
	size      uint32 // elements of a constant set
}

// addSet creates def and returns the batch's ID for it (the name of an anonymous set is
// known only to the kernel; the batch refers to it by ID).
func (b *batch) addSet(def setDef) (uint32, error) {
	b.lastID++
	order := uint32(2) // nft's BYTEORDER_BIG_ENDIAN
	if def.hostOrder {
		order = 1
	}
	attrs := []netlink.Attribute{
		str(unix.NFTA_SET_TABLE, b.table), str(unix.NFTA_SET_NAME, def.name),
		u32(unix.NFTA_SET_FLAGS, def.flags),
		u32(unix.NFTA_SET_KEY_TYPE, def.key.GetNFTMagic()), u32(unix.NFTA_SET_KEY_LEN, def.key.Bytes),
		u32(unix.NFTA_SET_ID, b.lastID),
	}
	if def.verdicts {
		attrs = append(attrs, u32(unix.NFTA_SET_DATA_TYPE, unix.NFT_DATA_VERDICT))
	}
	if def.timeout > 0 {
		attrs = append(attrs, netlink.Attribute{Type: unix.NFTA_SET_TIMEOUT, Data: binaryutil.BigEndian.PutUint64(uint64(def.timeout.Milliseconds()))})
	}
	if def.size > 0 {
		desc, err := nested(unix.NFTA_SET_DESC, u32(unix.NFTA_SET_DESC_SIZE, def.size))
		if err != nil {
			return 0, err
		}
		attrs = append(attrs, desc)
	}
	attrs = append(attrs, netlink.Attribute{Type: unix.NFTA_SET_USERDATA, Data: userdata.AppendUint32(nil, userdata.NFTNL_UDATA_SET_KEYBYTEORDER, order)})
	return b.lastID, b.message(unix.NFT_MSG_NEWSET, netlink.Create, attrs...)
}

func (b *batch) delSet(name string) error {
	return b.message(unix.NFT_MSG_DELSET, 0, str(unix.NFTA_SET_TABLE, b.table), str(unix.NFTA_SET_NAME, name))
}

// element is one element of a set (verdict and data nil), verdict map or data map.
type element struct {
	key     []byte
	verdict *expr.Verdict
	data    []byte
}

// elements adds (or deletes) elems to the set called name, or to the set of the batch
// with id setID.
func (b *batch) elements(add bool, name string, setID uint32, elems []element) error {
	list := make([]netlink.Attribute, 0, len(elems))
	for _, e := range elems {
		key, err := nested(unix.NFTA_SET_ELEM_KEY, netlink.Attribute{Type: unix.NFTA_DATA_VALUE, Data: e.key})
		if err != nil {
			return err
		}
		attrs := []netlink.Attribute{key}
		if e.data != nil {
			value, err := nested(unix.NFTA_SET_ELEM_DATA, netlink.Attribute{Type: unix.NFTA_DATA_VALUE, Data: e.data})
			if err != nil {
				return err
			}
			attrs = append(attrs, value)
		}
		if e.verdict != nil {
			verdict := []netlink.Attribute{u32(unix.NFTA_VERDICT_CODE, uint32(int32(e.verdict.Kind)))}
			if e.verdict.Chain != "" {
				verdict = append(verdict, str(unix.NFTA_VERDICT_CHAIN, e.verdict.Chain))
			}
			v, err := nested(unix.NFTA_DATA_VERDICT, verdict...)
			if err != nil {
				return err
			}
			data, err := nested(unix.NFTA_SET_ELEM_DATA, v)
			if err != nil {
				return err
			}
			attrs = append(attrs, data)
		}
		item, err := nested(unix.NFTA_LIST_ELEM, attrs...)
		if err != nil {
			return err
		}
		list = append(list, item)
	}
	elements, err := nested(unix.NFTA_SET_ELEM_LIST_ELEMENTS, list...)
	if err != nil {
		return err
	}
	attrs := []netlink.Attribute{str(unix.NFTA_SET_ELEM_LIST_TABLE, b.table), str(unix.NFTA_SET_ELEM_LIST_SET, name)}
	if setID != 0 {
		attrs = append(attrs, u32(unix.NFTA_SET_ELEM_LIST_SET_ID, setID))
	}
	attrs = append(attrs, elements)
	if add {
		return b.message(unix.NFT_MSG_NEWSETELEM, netlink.Create, attrs...)
	}
	return b.message(unix.NFT_MSG_DELSETELEM, 0, attrs...)
}

func (b *batch) addRule(chain string, exprs []expr.Any) error {
	list := make([]netlink.Attribute, 0, len(exprs))
	for _, e := range exprs {
		data, err := expr.Marshal(unix.NFPROTO_IPV4, e)
		if err != nil {
			return err
		}
		list = append(list, netlink.Attribute{Type: unix.NFTA_LIST_ELEM | unix.NLA_F_NESTED, Data: data})
	}
	body, err := nested(unix.NFTA_RULE_EXPRESSIONS, list...)
	if err != nil {
		return err
	}
	return b.message(unix.NFT_MSG_NEWRULE, netlink.Create|netlink.Append,
		str(unix.NFTA_RULE_TABLE, b.table), str(unix.NFTA_RULE_CHAIN, chain), body)
}

// errNotSent says the batch never reached nf_tables (so nothing of it was applied).
var errNotSent = errors.New("batch not sent")

// ackTimeout bounds the wait for the kernel's answer; nf_tables processes a batch
// within the sendmsg call, so the answer is normally there at once.
const ackTimeout = 10 * time.Second

// kernelError is an error nf_tables reported for a message of a batch (which it then
// aborted); any other error of send leaves the connection in an unknown state.
type kernelError struct{ err error }

func (e *kernelError) Error() string { return e.err.Error() }
func (e *kernelError) Unwrap() error { return e.err }

// send runs the batch as one nf_tables transaction on conn and returns the first error
// the kernel reported (as a *kernelError).
func (b *batch) send(conn *netlink.Conn) error {
	msgs := make([]netlink.Message, 0, len(b.msgs)+2)
	msgs = append(msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_BEGIN), Flags: netlink.Request},
		Data:   nfgenmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
	})
	msgs = append(msgs, b.msgs...)
	msgs = append(msgs, netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_MSG_BATCH_END), Flags: netlink.Request},
		Data:   nfgenmsg(unix.AF_UNSPEC, unix.NFNL_SUBSYS_NFTABLES),
	})
	size := 0
	for _, m := range msgs {
		size += 16 + (len(m.Data)+3)&^3
	}
	if err := growSendBuffer(conn, size); err != nil {
		return fmt.Errorf("%w: %v", errNotSent, err)
	}
	if _, err := conn.SendMessages(msgs); err != nil {
		return fmt.Errorf("%w: %v", errNotSent, err)
	}
	// The batch is done (committed or aborted) when sendmsg returns. A request after it
	// is answered after the batch's errors: read up to its ack.
	sync, err := conn.Send(netlink.Message{
		Header: netlink.Header{Type: netlink.HeaderType(unix.NFNL_SUBSYS_NFTABLES<<8 | unix.NFT_MSG_GETGEN), Flags: netlink.Request | netlink.Acknowledge},
		Data:   nfgenmsg(unix.AF_UNSPEC, 0),
	})
	if err != nil {
		return fmt.Errorf("batch sent, but not the request after it: %w", err)
	}
	if err := conn.SetReadDeadline(time.Now().Add(ackTimeout)); err != nil {
		return err
	}
	var batchErr error
	for {
		replies, err := conn.Receive()
		if err != nil {
			var opErr *netlink.OpError
			if !errors.As(err, &opErr) || opErr.Op != "receive" || isTransportError(opErr.Err) {
				return fmt.Errorf("waiting for the kernel's answer: %w", err)
			}
			// An error the kernel reported for a message of the batch.
			if batchErr == nil {
				batchErr = &kernelError{err}
			}
			continue
		}
		for _, m := range replies {
			if m.Header.Sequence == sync.Header.Sequence && m.Header.Type == netlink.Error {
				return batchErr
			}
		}
	}
}

// isTransportError tells a failure of the socket from an error the kernel reported in a
// message.
func isTransportError(err error) bool {
	return errors.Is(err, unix.ENOBUFS) || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.EBADF) ||
		errors.Is(err, unix.ETIMEDOUT) || errors.Is(err, unix.EINTR) || isTimeout(err)
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// growSendBuffer makes room for a batch of size bytes in one sendmsg: netlink refuses a
// message larger than the socket's send buffer. SO_SNDBUFFORCE goes past wmem_max (we
// are root when we write nftables at all).
func growSendBuffer(conn *netlink.Conn, size int) error {
	const defaultBuffer = 200 << 10
	if size < defaultBuffer {
		return nil
	}
	raw, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	var sockErr error
	if err := raw.Control(func(fd uintptr) {
		sockErr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_SNDBUFFORCE, size+4096)
	}); err != nil {
		return err
	}
	return sockErr
}
