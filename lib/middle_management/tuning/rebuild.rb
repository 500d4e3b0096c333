require "middle_management/measures"
require "middle_management/simulation/trace"

module MiddleManagement
  module Tuning
    # A pool's jobs of the last days, rebuilt from its history for the
    # simulator: the history keeps no row per job, only what decisions saw
    # (:sample: runnable and running) and what workers did (:jobs: per
    # process and minute, how many ended, their seconds, the longest).
    #
    # Arrivals come from the flow balance: what arrived in a minute is what
    # ended in it plus what the queue (runnable + running) grew by, placed
    # within the minute where the looks saw it grow. Durations are the ended jobs'
    # in order (each minute's longest, the rest at the minute's mean), given
    # to the jobs first come first served, as the queues run them. A job
    # scheduled ahead counts when it is due; a count that stopped at its cap
    # counts the cap. Pure: entries in, a trace out.
    class Rebuild
      MINUTE_MS = 60_000
      KINDS = %i[sample jobs boot].freeze
      # What a look saw: runnable + running (`queue`), and running.
      Look = Struct.new(:at, :queue, :running)

      attr_reader :trace, :from, :to, :jobs_done, :boot_seconds, :boots

      # `entries`: a pool's history of KINDS, oldest first; `from`, `to`: ms.
      def initialize(entries, from:, to:)
        @from = from
        @to = to
        entries = entries.select { |entry| entry.at.between?(from, to) }
        samples = entries.select { |entry| entry.kind == :sample }
        ended = entries.select { |entry| entry.kind == :jobs }
        @jobs_done = ended.sum { |entry| entry.figures[:done].to_i }
        boots = entries.select { |entry| entry.kind == :boot }.filter_map { |entry| Measures.boot_seconds(entry) }
        @boots = boots.size
        @boot_seconds = boots.empty? ? nil : Measures.median(boots)
        @trace = Simulation::Trace.of(jobs(arrivals(samples, ended), durations(ended)))
      end

      def durations? = @jobs_done.positive?

      def mean_seconds = @durations.empty? ? nil : @durations.sum / @durations.size

      private

      # Times (ms) at which jobs arrived: the queue found at the start, then
      # each minute's, by the flow balance.
      def arrivals(samples, ended)
        looks = samples.map do |sample|
          running = sample.figures[:running].to_i
          Look.new(sample.at, sample.figures[:runnable].to_i + running, running)
        end
        index = looks.index { |look| look.at > @from } || looks.size
        before = index.zero? ? Look.new(@from, 0, 0) : Look.new(@from, looks[index - 1].queue, looks[index - 1].running)
        start = before.queue
        times = Array.new(start, @from)
        arrived = done = next_ended = 0
        (@from...@to).step(MINUTE_MS) do |bucket|
          finish = [bucket + MINUTE_MS, @to].min
          minute_done = 0
          while next_ended < ended.size && ended[next_ended].at < finish
            minute_done += ended[next_ended].figures[:done].to_i
            next_ended += 1
          end
          done += minute_done
          inside = []
          inside << looks[(index += 1) - 1] while index < looks.size && looks[index].at <= finish
          last = inside.last || before
          total = [done + last.queue - start, arrived].max
          times.concat(place(total - arrived, stretches([before, *inside], finish, minute_done)))
          arrived = total
          before = Look.new(finish, last.queue, last.running)
        end
        times
      end

      # Where in its minute the jobs came: [from, to, weight] per stretch
      # between looks, weighted by what the looks saw come (the queue's
      # growth, plus the stretch's share of the minute's ended jobs by
      # running jobs × time), so that a burst lands where the queue jumped.
      def stretches(looks, finish, done)
        ends = looks.drop(1).map(&:at) << finish
        work = looks.zip(ends).map { |look, to| look.running * (to - look.at) }
        total_work = work.sum
        looks.zip(ends).each_with_index.map do |(look, to), i|
          growth = i + 1 < looks.size ? looks[i + 1].queue - look.queue : 0
          share = total_work.positive? ? done * work[i].fdiv(total_work) : done * (to - look.at).fdiv([finish - looks.first.at, 1].max)
          [look.at, to, [growth + share, 0].max]
        end
      end

      # `count` times spread over the stretches by their weights (evenly
      # over the minute when none has any).
      def place(count, stretches)
        return [] unless count.positive?

        total = stretches.sum(&:last)
        if total <= 0
          from = stretches.first[0]
          to = stretches.last[1]
          return Array.new(count) { |i| from + ((to - from) * (i + 0.5) / count) }
        end
        times = []
        passed = 0.0
        stretches.each do |from, to, weight|
          while times.size < count && (target = (times.size + 0.5) * total / count) <= passed + weight
            times << from + ((to - from) * (target - passed) / weight)
          end
          passed += weight
        end
        times.fill(stretches.last[1], times.size...count) # what rounding left over
      end

      def durations(ended)
        @durations = ended.flat_map do |entry|
          done = entry.figures[:done].to_i
          next [] unless done.positive?

          longest = entry.figures[:longest].to_f
          rest = done > 1 ? [(entry.figures[:seconds].to_f - longest) / (done - 1), 0.0].max : 0.0
          [longest, *Array.new(done - 1, rest)]
        end
      end

      # Jobs past the ended ones (still queued at the end) take the mean.
      def jobs(times, durations)
        mean = mean_seconds || 0.0
        # To the millisecond, as a trace file keeps them (`tune --trace-out`).
        times.each_with_index.map do |at, index|
          seconds = (at - @from).round / 1000.0
          Simulation::Trace::Job.new(seconds, seconds, durations.fetch(index, mean).round(3), nil)
        end
      end
    end
  end
end
