// Command mkworld writes a synthetic world of test/bench/world:
//
//	go run ./test/bench/mkworld -services 5000 -gateway ingress DIR
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/meshgate/meshgate/test/bench/world"
)

func main() {
	n := flag.Int("services", 1000, "number of Services")
	pods := flag.Int("pods", 5, "Pods per Service")
	gw := flag.String("gateway", string(world.Ingress), "gateway: ingress or eastwest")
	flag.Parse()
	if flag.NArg() != 1 || (*gw != string(world.Ingress) && *gw != string(world.EastWest)) {
		fmt.Fprintln(os.Stderr, "usage: mkworld [-services N] [-pods N] [-gateway ingress|eastwest] DIR")
		os.Exit(2)
	}
	objs, err := world.Write(flag.Arg(0), world.Shape{Services: *n, PodsPerService: *pods, Gateway: world.Kind(*gw)})
	if err != nil {
		fmt.Fprintln(os.Stderr, "mkworld:", err)
		os.Exit(1)
	}
	fmt.Printf("%d objects\n", objs)
}
