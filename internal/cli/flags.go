package cli

import (
	"fmt"
	"strconv"
)

// copyNumber is the value of a --copy flag: a copy number, 1 or more (0,
// the default, is "any copy"; it cannot be given).
type copyNumber struct{ n *int }

func (c copyNumber) String() string {
	if c.n == nil || *c.n == 0 {
		return ""
	}
	return strconv.Itoa(*c.n)
}

func (c copyNumber) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		return fmt.Errorf("a copy number is 1 or more (daisy ls copies lists them)")
	}
	*c.n = n
	return nil
}

func (copyNumber) Type() string { return "N" }
