// Command pstestd serves the in-memory Pub/Sub fake (cloud.google.com/go/pubsub/v2/pstest)
// on a chosen loopback port, so the Python client can reach it via PUBSUB_EMULATOR_HOST.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"cloud.google.com/go/pubsub/v2/pstest"
)

func main() {
	port := flag.Int("port", 8085, "TCP port to listen on (127.0.0.1)")
	flag.Parse()
	srv := pstest.NewServerWithPort(*port)
	fmt.Printf("pstest listening on %s\n", srv.Addr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	_ = srv.Close()
}
