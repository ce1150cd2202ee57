// The scenario file: a schedule (schedule.h) as text a user writes without recompiling, and
// the text the `sim` generator prints for a run it drew (--print-scenario), which replays it
// exactly. The grammar, every verb and an example: tests/scenarios/README.md.
#pragma once

#include <string>

#include "tests/agent_sim/schedule.h"

namespace muster::agent_sim {

// Parses `text` (named `name` in errors). False with `error` set to "NAME:LINE: what" at the
// first line that is not understood; never crashes on any input.
bool ParseScenario(const std::string& text, const std::string& name, Schedule* out, std::string* error);

// One action as a line, without its time ("kill s2 torn", "partition s1,s2 | s3").
std::string FormatAction(const Action& action);

// The whole schedule as a scenario file (every action with its exact `at` time); `comment`
// (may be empty, may hold several lines) goes on top as # lines. ParseScenario of the result
// gives the schedule back.
std::string FormatScenario(const Schedule& schedule, const std::string& comment);

}  // namespace muster::agent_sim
