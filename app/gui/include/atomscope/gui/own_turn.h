#pragma once
// Runs a reaction to a finished run a little later, in a turn of the event loop of its own.
#include <QObject>
#include <QTimer>
#include <utility>

namespace atomscope::gui {

// A panel that opens on a run finished elsewhere builds itself, loads the run and is first drawn:
// 20-70 ms each on the 2-core test machine (perf, session 12). A zero timer runs them in the same loop iteration as the other
// panels' reactions and the paint; 50 ms apart they stay below the 100 ms a user notices
// (gui.JobResponsivenessTest measures it).
constexpr int kOwnTurnDelayMs = 50;

template <typename Fn>
void inOwnTurn(QObject* context, Fn&& fn) {
  QTimer::singleShot(kOwnTurnDelayMs, context, std::forward<Fn>(fn));
}

}  // namespace atomscope::gui
