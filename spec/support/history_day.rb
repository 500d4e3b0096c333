require "middle_management/store/history"

# A pool's history as the gem writes it over a day of jobs, without living
# the day: the jobs of a trace served first come first served by `workers`
# dynos that stayed up, and what the gem would have written of them:
# - a :sample of runnable and running at each look: at a job's arrival,
#   start or end, no sooner than a second after the last look (the store's
#   news gap), and every COUNT_INTERVAL (60 s) without news;
# - per dyno, a :jobs row of the jobs that ended since its last one, written
#   every minute at the dyno's own second (each worker process writes on its
#   own clock, as Runtime::Measuring does);
# - a :boot of `boot` seconds each hour.
# `rows`: [enqueued_at, duration] in seconds from `start_ms`.
module HistoryDay
  NEWS_GAP = 1.0
  COUNT_INTERVAL = 60.0

  module_function

  def entries(rows, workers:, start_ms:, boot:, pool: "worker")
    runs = serve(rows, workers)
    ms = ->(seconds) { start_ms + (seconds * 1000).round }
    entry = ->(kind, at, figures) { MiddleManagement::Store::HistoryEntry.new(pool: pool, kind: kind, at: ms.call(at), figures: figures) }
    last = runs.map { |run| run[2] }.max.to_f
    samples = looks(runs, last).map do |at, runnable, running|
      entry.call(:sample, at, runnable: runnable, capped: false, running: running, quantity: workers)
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

  # [enqueued_at, started, ended, dyno] per job.
  def serve(rows, workers)
    free_at = Array.new(workers, 0.0)
    rows.sort_by(&:first).map do |enqueued_at, duration|
      dyno = free_at.each_index.min_by { |index| free_at[index] }
      started = [enqueued_at, free_at[dyno]].max
      free_at[dyno] = started + duration
      [enqueued_at, started, started + duration, dyno]
    end
  end

  # [at, runnable, running] at each look.
  def looks(runs, last)
    # [time, change in runnable, change in running], swept in order.
    changes = runs.flat_map { |enqueued, started, ended, _| [[enqueued, 1, 0], [started, -1, 1], [ended, 0, -1]] }.sort_by(&:first)
    news = changes.map(&:first) + (0..(last / COUNT_INTERVAL).ceil).map { |step| step * COUNT_INTERVAL }
    runnable = running = applied = 0
    looked_at = -Float::INFINITY
    news.sort.each_with_object([]) do |time, looks|
      next if time <= looked_at # the last look saw it

      at = [time, looked_at + NEWS_GAP].max

      while applied < changes.size && changes[applied][0] <= at
        runnable += changes[applied][1]
        running += changes[applied][2]
        applied += 1
      end
      looks << [at, runnable, running]
      looked_at = at
    end
  end
end
