package main

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// writeResidentPages lists, one hexadecimal address a line, every page of the process's
// mappings of exe that is resident (bit 63 of its /proc/<pid>/pagemap entry). Set beside
// the addresses of an unstripped build's symbols (`go tool nm -size -sort address`), it
// says which code and which read-only data the agent keeps in memory — what smaps' one
// figure per mapping cannot.
func writeResidentPages(pid int, exe string, w io.Writer) error {
	maps, err := os.Open(fmt.Sprintf("/proc/%d/maps", pid))
	if err != nil {
		return err
	}
	defer maps.Close()
	pagemap, err := os.Open(fmt.Sprintf("/proc/%d/pagemap", pid))
	if err != nil {
		return err
	}
	defer pagemap.Close()
	page := uint64(os.Getpagesize())
	bw := bufio.NewWriter(w)
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || strings.TrimSuffix(strings.Join(fields[5:], " "), " (deleted)") != exe {
			continue
		}
		lo, hi, _ := strings.Cut(fields[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("/proc/%d/maps: bad range %q", pid, fields[0])
		}
		entries := make([]byte, (end-start)/page*8)
		if _, err := pagemap.ReadAt(entries, int64(start/page*8)); err != nil {
			return fmt.Errorf("/proc/%d/pagemap: %w", pid, err)
		}
		for i := uint64(0); i < (end-start)/page; i++ {
			if binary.LittleEndian.Uint64(entries[i*8:])&(1<<63) != 0 {
				fmt.Fprintf(bw, "%x %s\n", start+i*page, fields[1])
			}
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return bw.Flush()
}
