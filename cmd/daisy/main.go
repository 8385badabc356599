// Command daisy is a backup system built on daisy-chained buffer memories:
// one pass over the data writes every copy. See README.md.
package main

import (
	"os"

	"daisy/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
