//! The sub-expressions of a minijinja expression, in source order, for the
//! rewrites that walk its parse tree (`chains`, `percent`): one list of
//! what each kind of node holds, so a node kind a new minijinja adds is
//! handled in one place.

use minijinja::machinery::ast::{self, Expr};

/// Calls `f` on each direct sub-expression of `expr`, left to right.
pub fn children<'a, 'e>(expr: &'e Expr<'a>, mut f: impl FnMut(&'e Expr<'a>)) {
    match expr {
        Expr::UnaryOp(u) => f(&u.expr),
        Expr::BinOp(b) => {
            f(&b.left);
            f(&b.right);
        }
        Expr::Test(t) => {
            f(&t.expr);
            call_args(&t.args).for_each(f);
        }
        Expr::Filter(x) => {
            if let Some(e) = &x.expr {
                f(e);
            }
            call_args(&x.args).for_each(f);
        }
        Expr::Compare(c) => {
            f(&c.expr);
            c.ops.iter().for_each(|op| f(&op.expr));
        }
        Expr::IfExpr(i) => {
            f(&i.test_expr);
            f(&i.true_expr);
            if let Some(e) = &i.false_expr {
                f(e);
            }
        }
        Expr::GetAttr(a) => f(&a.expr),
        Expr::GetItem(i) => {
            f(&i.expr);
            f(&i.subscript_expr);
        }
        Expr::Slice(s) => {
            f(&s.expr);
            [&s.start, &s.stop, &s.step]
                .into_iter()
                .flatten()
                .for_each(f);
        }
        Expr::Call(c) => {
            f(&c.expr);
            call_args(&c.args).for_each(f);
        }
        Expr::List(l) => l.items.iter().for_each(f),
        Expr::Tuple(t) => t.items.iter().for_each(f),
        Expr::Map(m) => m.keys.iter().chain(&m.values).for_each(f),
        Expr::Var(_) | Expr::Const(_) => {}
    }
}

/// The expressions of a call's arguments, positional, keyword and splats.
pub fn call_args<'a, 'e>(args: &'e [ast::CallArg<'a>]) -> impl Iterator<Item = &'e Expr<'a>> {
    args.iter().map(|arg| match arg {
        ast::CallArg::Pos(e)
        | ast::CallArg::Kwarg(_, e)
        | ast::CallArg::PosSplat(e)
        | ast::CallArg::KwargSplat(e) => e,
    })
}
