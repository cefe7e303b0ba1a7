//! Every way an auth stack can run, as libpam's dispatcher
//! (`_pam_dispatch_aux`) walks it: for each line, each return value its
//! control names and one for all others, with `done` ending the stack only
//! while no earlier module failed. From these: how often one
//! authentication can run the module (prompts) and how many codes it can
//! spend (the module's successes).

use std::collections::HashSet;

use super::pamd::{Action, Entry, MODULE};

/// The stack's result so far, as libpam's "impression".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Impression {
    /// No module decided yet (a stack that ends so fails).
    Undecided,
    /// A module's `ok`/`done`; `true` if its value was success.
    Positive(bool),
    /// A `bad`/`die`: the stack fails whatever follows.
    Negative,
}

/// One way through a stack: its result, how often the module ran, and how
/// often it succeeded (spent a code).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Run {
    success: bool,
    prompts: usize,
    spent: usize,
}

/// The most one authentication through `entries` can do with the module.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Most {
    /// How many times the code prompt can run.
    pub(crate) prompts: usize,
    /// How many codes can be spent.
    pub(crate) spent: usize,
}

/// Walks are cut off after this many steps: real stacks take a few hundred.
const BUDGET: usize = 200_000;

/// The most any run of `entries` prompts for and spends; None if the stack
/// has too many ways through to walk them all.
pub(crate) fn most(entries: &[Entry]) -> Option<Most> {
    let mut budget = BUDGET;
    let runs = walk(entries, &mut budget)?;
    Some(runs.iter().fold(Most::default(), |most, run| Most {
        prompts: most.prompts.max(run.prompts),
        spent: most.spent.max(run.spent),
    }))
}

/// A module's possible return values, as the names its control uses:
/// `success`, `ignore`, each other name it lists, and one value it does not
/// list (`default`).
fn values(entry: &Entry) -> Vec<String> {
    let Entry::Module { module, control, .. } = entry else {
        return Vec::new();
    };
    match module.as_str() {
        "pam_permit.so" => vec!["success".into()],
        "pam_deny.so" => vec!["auth_err".into()],
        _ => {
            let mut values: Vec<String> = vec!["success".into(), "ignore".into()];
            values.extend(control.values.keys().cloned());
            // A name no control uses stands for "any other value".
            values.push("\u{0}other".into());
            values.sort();
            values.dedup();
            values
        }
    }
}

/// A way the walk can be: next entry, impression, prompts, spent.
type State = (usize, Impression, usize, usize);

/// What one entry did: its return value was success, or PAM_IGNORE; it
/// ran the module, spent a code; and the action its control chose.
struct Step {
    success: bool,
    ignored: bool,
    prompts: usize,
    spent: usize,
    action: Action,
}

/// Every distinct run of `entries` from the start.
fn walk(entries: &[Entry], budget: &mut usize) -> Option<HashSet<Run>> {
    let mut runs = HashSet::new();
    let mut seen = HashSet::new();
    let mut pending: Vec<State> = vec![(0, Impression::Undecided, 0, 0)];
    while let Some(state @ (index, impression, prompts, spent)) = pending.pop() {
        if !seen.insert(state) {
            continue;
        }
        *budget = budget.checked_sub(1)?;
        let mut steps = Vec::new();
        match entries.get(index) {
            None => {
                runs.insert(Run {
                    success: impression == Impression::Positive(true),
                    prompts,
                    spent,
                });
            }
            Some(Entry::Broken { .. }) => {
                // libpam fails the whole stack; nothing after it matters.
                runs.insert(Run {
                    success: false,
                    prompts,
                    spent,
                });
            }
            Some(Entry::Substack(inner)) => {
                // Its result counts as that of a `required` line.
                for run in walk(inner, budget)? {
                    steps.push(Step {
                        success: run.success,
                        ignored: false,
                        prompts: run.prompts,
                        spent: run.spent,
                        action: if run.success { Action::Ok } else { Action::Bad },
                    });
                }
            }
            Some(
                entry @ Entry::Module {
                    module,
                    control,
                    optional_load,
                    ..
                },
            ) => {
                let ours = module == MODULE;
                for value in values(entry) {
                    let success = value == "success";
                    steps.push(Step {
                        success,
                        ignored: value == "ignore",
                        prompts: usize::from(ours),
                        spent: usize::from(ours && success),
                        action: control.action(&value),
                    });
                }
                if *optional_load && !ours {
                    // `-auth` with the module not installed: no line at all.
                    steps.push(Step {
                        success: false,
                        ignored: true,
                        prompts: 0,
                        spent: 0,
                        action: Action::Ignore,
                    });
                }
            }
        }
        for step in steps {
            let after = (index, impression, prompts + step.prompts, spent + step.spent);
            match apply(after, &step, entries.len()) {
                Ok(state) => pending.push(state),
                Err(run) => {
                    runs.insert(run);
                }
            }
        }
    }
    Some(runs)
}

/// The state after the entry at `state`'s index did `step`, or the run
/// if the stack ends there (`done`, `die`).
fn apply(state: State, step: &Step, len: usize) -> Result<State, Run> {
    let (index, mut impression, prompts, spent) = state;
    let mut next = index + 1;
    match step.action {
        Action::Ignore => {}
        Action::Reset => impression = Impression::Undecided,
        Action::Ok | Action::Done => {
            let may_set = matches!(impression, Impression::Undecided | Impression::Positive(true));
            if may_set && !step.ignored {
                impression = Impression::Positive(step.success);
            }
            // libpam: `done` ends the stack only if nothing failed before.
            if step.action == Action::Done && impression != Impression::Negative {
                return Err(Run {
                    success: impression == Impression::Positive(true),
                    prompts,
                    spent,
                });
            }
        }
        Action::Bad | Action::Die => {
            impression = Impression::Negative;
            if step.action == Action::Die {
                return Err(Run {
                    success: false,
                    prompts,
                    spent,
                });
            }
        }
        Action::Jump(n) => {
            next = index + 1 + n;
            if next > len {
                // libpam: "bad jump in stack", the stack fails.
                impression = Impression::Negative;
                next = len;
            }
        }
    }
    Ok((next, impression, prompts, spent))
}
