require "middle_management/store/history"

# A pool's history as the gem writes it over a day of jobs, without living
# the day: the jobs of a trace served first come first served by `workers`
# dynos that stayed up, and what the gem would have written of them:
# - a :sample of runnable and running at each look: at a job's arrival,
#   start or end, no sooner than a second after the last look (the store's
#   news gap), and every COUNT_INTERVAL (60 s) without news, with the
#   seconds until the soonest job scheduled ahead is due;
# - per dyno, a :jobs row of the jobs that ended since its last one, written
#   every minute at the dyno's own second (each worker process writes on its
#   own clock, as Runtime::Measuring does);
# - a :boot of `boot` seconds each hour.
# `rows`: [enqueued_at, duration, run_at or nil] in seconds from `start_ms`.
module HistoryDay
  NEWS_GAP = 1.0
  COUNT_INTERVAL = 60.0

  module_function

  def entries(rows, workers:, start_ms:, boot:, pool: "worker")
    runs = serve(rows, workers)
    ms = ->(seconds) { start_ms + (seconds * 1000).round }
    entry = ->(kind, at, figures) { MiddleManagement::Store::HistoryEntry.new(pool: pool, kind: kind, at: ms.call(at), figures: figures) }
    last = runs.map { |run| run[2] }.max.to_f
    samples = looks(runs, last).map do |at, runnable, running, next_run_in|
      entry.call(:sample, at, runnable: runnable, capped: false, running: running, quantity: workers,
                              next_run_in: next_run_in)
    end
    second = Array.new(workers) { |dyno| (dyno * 37) % 60 } # when in each minute a dyno writes
    minutes = runs.group_by { |_, _, ended, dyno| [((ended - second[dyno]) / 60).floor, dyno] }.map do |(minute, dyno), ended|
      seconds = ended.map { |_, started, finish, _| finish - started }
      entry.call(:jobs, ((minute + 1) * 60) + second[dyno], done: ended.size, seconds: seconds.sum, longest: seconds.max)
    end
    boots = (0..(last / 3600).floor).map do |hour|
      entry.call(:boot, (hour * 3600) + boot, dyno: "worker.#{workers}", raised_at: ms.call(hour * 3600))
    end
    (samples + minutes + boots).sort_by(&:at)
  end

  # [due, started, ended, dyno, enqueued_at] per job, served in order of due time.
  def serve(rows, workers)
    free_at = Array.new(workers, 0.0)
    rows.map { |enqueued_at, duration, run_at| [[run_at || enqueued_at, enqueued_at].max, duration, enqueued_at] }
        .sort_by(&:first).map do |due, duration, enqueued_at|
      dyno = free_at.each_index.min_by { |index| free_at[index] }
      started = [due, free_at[dyno]].max
      free_at[dyno] = started + duration
      [due, started, started + duration, dyno, enqueued_at]
    end
  end

  # [at, runnable, running, seconds to the soonest job scheduled ahead or nil] at each look.
  def looks(runs, last)
    # [time, change in runnable, change in running], swept in order.
    changes = runs.flat_map { |due, started, ended, _| [[due, 1, 0], [started, -1, 1], [ended, 0, -1]] }.sort_by(&:first)
    ahead = runs.filter_map { |due, *, enqueued| [enqueued, due] if due > enqueued }.sort_by(&:first)
    news = changes.map(&:first) + ahead.map(&:first) + (0..(last / COUNT_INTERVAL).ceil).map { |step| step * COUNT_INTERVAL }
    runnable = running = applied = announced = 0
    pending = [] # due times of jobs enqueued ahead, soonest first
    looked_at = -Float::INFINITY
    news.sort.each_with_object([]) do |time, looks|
      next if time <= looked_at # the last look saw it

      at = [time, looked_at + NEWS_GAP].max
      while applied < changes.size && changes[applied][0] <= at
        runnable += changes[applied][1]
        running += changes[applied][2]
        applied += 1
      end
      while announced < ahead.size && ahead[announced][0] <= at
        due = ahead[announced][1]
        pending.insert(pending.bsearch_index { |known| known >= due } || pending.size, due)
        announced += 1
      end
      pending.shift while pending.any? && pending.first <= at
      looks << [at, runnable, running, pending.first && (pending.first - at).round(3)]
      looked_at = at
    end
  end
end
