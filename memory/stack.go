package memory

// stackNeed is about the deepest a hook call's goroutines go: the FHIR
// decoder recurses through nested elements, and SQLite's transpiled C
// keeps large frames.
const stackNeed = 56 << 10

// GrowStack gives the calling goroutine, at once, the stack a hook call
// grows to. A new goroutine starts small and doubles its stack each time a
// call goes deeper, copying every frame above it each time: at 200 calls a
// second that copying was 3-4 % of the service's CPU. Grown here, with
// nothing on the stack yet, the copy is one and costs nothing.
//
//go:noinline
func GrowStack() {
	var frame [stackNeed]byte
	keep(frame[:])
}

// keep stops the compiler from dropping the frame GrowStack asks for.
//
//go:noinline
func keep([]byte) {}
