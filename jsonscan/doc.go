// Package jsonscan reads JSON straight from a byte slice: where each value
// begins and ends, the members of an object and the elements of an array
// in order, strings and numbers as their bytes. It accepts exactly the
// syntax the v2 decoder (github.com/go-json-experiment/json, with invalid
// UTF-8 and repeated names allowed) accepts, so it can find the values that
// decoder would read, several times faster. In strict mode it also refuses
// what that decoder would change as it reads (invalid UTF-8, lone
// surrogates, escaped names), for readers that must give up rather than differ.
package jsonscan
