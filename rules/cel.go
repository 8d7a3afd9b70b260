package rules

import (
	"fmt"

	"cel.dev/cel-go/cel"
)

// criterion is a site's extra criterion, compiled and type-checked once.
type criterion struct {
	expr string
	prg  cel.Program
}

var celEnv = func() *cel.Env {
	intMap := cel.MapType(cel.StringType, cel.IntType)
	env, err := cel.NewEnv(
		cel.Variable("investigations", intMap),
		cel.Variable("systems", intMap),
		cel.Variable("specialties", intMap),
		cel.Variable("primary_care", intMap),
		cel.Variable("patient", intMap),
		cel.Variable("persistence", intMap),
	)
	if err != nil {
		panic("rules: CEL environment: " + err.Error())
	}
	return env
}()

func compileCriteria(exprs []string) ([]*criterion, error) {
	var out []*criterion
	for i, e := range exprs {
		ast, iss := celEnv.Compile(e)
		if iss.Err() != nil {
			return nil, fmt.Errorf("extra_criteria[%d]: %w", i, iss.Err())
		}
		if ast.OutputType() != cel.BoolType {
			return nil, fmt.Errorf("extra_criteria[%d]: must be a boolean expression, is %s", i, ast.OutputType())
		}
		prg, err := celEnv.Program(ast)
		if err != nil {
			return nil, fmt.Errorf("extra_criteria[%d]: %w", i, err)
		}
		c := &criterion{expr: e, prg: prg}
		// Map keys are not checked at compile time; evaluating once on
		// empty features catches a misspelt key at start, not at a hook.
		if _, err := c.eval(Features{}); err != nil {
			return nil, fmt.Errorf("extra_criteria[%d]: %w", i, err)
		}
		out = append(out, c)
	}
	return out, nil
}

func (c *criterion) eval(f Features) (bool, error) {
	out, _, err := c.prg.Eval(f.vars())
	if err != nil {
		return false, err
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("result is not a boolean")
	}
	return b, nil
}
