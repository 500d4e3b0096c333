require "middle_management/store/history"

# A pool's history as the gem writes it over a day of jobs, without living
# the day: the jobs of a trace served first come first served by `workers`
# dynos that stayed up, each ending job folded per dyno and minute into a
# :jobs entry (as Runtime::Measuring writes them), a :sample of runnable and
# running every `sample_every` seconds (as decisions write them), and a
# :boot of `boot` seconds each hour. `rows`: [enqueued_at, duration] in
# seconds from `start_ms`.
module HistoryDay
  module_function

  def entries(rows, workers:, start_ms:, boot:, sample_every: 10, pool: "worker")
    free_at = Array.new(workers, 0.0)
    runs = rows.sort_by(&:first).map do |enqueued_at, duration|
      dyno = free_at.each_index.min_by { |index| free_at[index] }
      started = [enqueued_at, free_at[dyno]].max
      free_at[dyno] = started + duration
      [enqueued_at, started, started + duration, dyno]
    end
    ms = ->(seconds) { start_ms + (seconds * 1000).round }
    entry = ->(kind, at, figures) { MiddleManagement::Store::HistoryEntry.new(pool: pool, kind: kind, at: at, figures: figures) }
    last = runs.map { |run| run[2] }.max.to_f
    # [time, change in runnable, change in running], swept in order.
    changes = runs.flat_map do |enqueued, started, ended, _|
      [[enqueued, 1, 0], [started, -1, 1], [ended, 0, -1]]
    end.sort_by(&:first)
    runnable = running = applied = 0
    samples = (0..(last / sample_every).ceil).map do |step|
      at = step * sample_every
      while applied < changes.size && changes[applied][0] <= at
        runnable += changes[applied][1]
        running += changes[applied][2]
        applied += 1
      end
      entry.call(:sample, ms.call(at), runnable: runnable, capped: false, running: running, quantity: workers)
    end
    minutes = runs.group_by { |_, _, ended, dyno| [(ended / 60).floor, dyno] }.map do |(minute, _dyno), ended|
      seconds = ended.map { |_, started, finish, _| finish - started }
      entry.call(:jobs, ms.call((minute + 1) * 60), done: ended.size, seconds: seconds.sum, longest: seconds.max)
    end
    boots = (0..(last / 3600).floor).map do |hour|
      raised_at = ms.call(hour * 3600)
      entry.call(:boot, raised_at + (boot * 1000).round, dyno: "worker.#{workers}", raised_at: raised_at)
    end
    (samples + minutes + boots).sort_by(&:at)
  end
end
