// Command baseline is what scripts/load measures Balint against, behind the
// same load generator in the same run: an echo server whose handlers do the
// least a hook could do.
//
//	POST /trivial  reads the body and answers {"cards":[]}
//	POST /floor    also decodes the body with encoding/json into the
//	               smallest structs holding what the rule reads (testing/floor)
package main

import (
	"encoding/json"
	"flag"
	"io"
	"log"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/balint-health/balint/testing/floor"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8090", "listen address")
	flag.Parse()
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.IPExtractor = echo.ExtractIPDirect()
	noCards := map[string]any{"cards": []any{}}
	e.POST("/trivial", func(c echo.Context) error {
		if _, err := io.Copy(io.Discard, c.Request().Body); err != nil {
			return err
		}
		return c.JSON(http.StatusOK, noCards)
	})
	e.POST("/floor", func(c echo.Context) error {
		var h floor.Hook
		if err := json.NewDecoder(c.Request().Body).Decode(&h); err != nil {
			return echo.NewHTTPError(http.StatusBadRequest, err.Error())
		}
		return c.JSON(http.StatusOK, noCards)
	})
	log.Fatal(e.Start(*addr))
}
