# Prints the README's step-by-step chart as it happens: one row per
# formation change, saying what the app did since the last row, what Middle
# Management did, and how many workers there are.
class Chart
  COLUMNS = "%7s  %-44s  %-26s  %s".freeze

  def initialize(out = $stdout)
    @out = out
    @started = now
    @app_actions = []
    @peak = 0
    @workers = 0
  end

  attr_reader :peak, :workers

  def header
    @out.puts format(COLUMNS, "time", "App action", "Middle Management action", "Total workers (processes)")
    @out.puts "-" * 110
  end

  # Something the app did; shown on the next row.
  def app(action)
    @app_actions << action
  end

  def row(mm_action, workers, processes)
    @peak = [@peak, workers].max
    @workers = workers
    time = format("%.1fs", now - @started)
    @out.puts format(COLUMNS, time, @app_actions.join(", "), mm_action, "#{workers} (#{processes})")
    @app_actions.clear
  end

  def self.action(from, to)
    return "" if from == to

    to > from ? "hire #{to - from} worker#{"s" if to - from > 1}" : "fire #{from - to} worker#{"s" if from - to > 1}"
  end

  private

  def now = Process.clock_gettime(Process::CLOCK_MONOTONIC)
end
