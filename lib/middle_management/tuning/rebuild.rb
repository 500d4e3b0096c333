require "middle_management/errors"
require "middle_management/measures"
require "middle_management/simulation/trace"

module MiddleManagement
  module Tuning
    # A pool's jobs of the last days, rebuilt from its history for the
    # simulator. The history keeps no row per job, only what decisions saw
    # (:sample: runnable and running, at each look) and what workers did
    # (:jobs: per process, the jobs that ended since its last write, a
    # minute at most: how many, their seconds, the longest).
    #
    # Arrivals come from the flow balance: by each look, what has arrived is
    # what has ended plus what is queued (runnable + running); what is new
    # to a look arrived in the second before it (a job's news brings a look
    # within the store's news gap). A :jobs row's jobs are taken to have
    # ended in the minute before it was written, where the looks saw jobs
    # running. Where no look was made for a minute (and after the last), the
    # queue is what the last look saw less what ended since. Durations are
    # the ended jobs' in order (each row's longest, the rest at its mean),
    # given to the jobs first come first served, as the queues run them. A
    # job scheduled ahead counts when it is due; a count that stopped at its
    # cap counts the cap; a row no version of the gem wrote (a figure that
    # is no number) is skipped. Pure: entries in, a trace out.
    class Rebuild
      MINUTE_MS = 60_000
      # What a :jobs row covers: Runtime::Measuring writes once a minute (and at exit).
      COVERS_MS = 60_000
      # More jobs than this in the window is a count gone wrong, or more than one replay should take.
      MOST_JOBS = 2_000_000
      NEWS_MS = 1_000
      KINDS = %i[sample jobs boot].freeze
      # What a look saw: runnable + running, and running.
      Look = Struct.new(:at, :queue, :running, :next_due)
      Ended = Struct.new(:at, :done, :seconds, :longest)

      attr_reader :trace, :from, :to, :jobs_done, :boot_seconds, :boots

      # `entries`: a pool's history of KINDS, oldest first; `from`, `to`: ms.
      def initialize(entries, from:, to:)
        @from = from
        @to = to
        entries = entries.select { |entry| entry.at.between?(from, to) }
        looks = entries.filter_map { |entry| look(entry) if entry.kind == :sample }
        ended = entries.filter_map { |entry| ended(entry) if entry.kind == :jobs }
        @jobs_done = ended.sum(&:done)
        boots = entries.select { |entry| entry.kind == :boot }.filter_map { |entry| Measures.boot_seconds(entry) }
        @boots = boots.size
        @boot_seconds = boots.empty? ? nil : Measures.median(boots)
        @trace = Simulation::Trace.of(jobs(arrivals(looks, ended), durations(ended), announced(looks)))
      end

      def durations? = @jobs_done.positive?

      def mean_seconds = @durations.empty? ? nil : @durations.sum / @durations.size

      private

      def look(entry)
        runnable = whole(entry.figures[:runnable])
        running = whole(entry.figures[:running])
        next_run_in = seconds(entry.figures[:next_run_in])
        runnable && running && Look.new(entry.at, runnable + running, running, next_run_in && entry.at + (next_run_in * 1000).round)
      end

      def ended(entry)
        done = whole(entry.figures[:done])
        seconds = seconds(entry.figures[:seconds])
        longest = seconds(entry.figures[:longest])
        done&.positive? && seconds && longest && Ended.new(entry.at, done, seconds, [longest, seconds].min)
      end

      def whole(value) = Integer(value, exception: false)&.then { |n| n.between?(0, MOST_JOBS) ? n : nil }

      def seconds(value) = Float(value, exception: false)&.then { |s| s.finite? && s >= 0 ? s : nil }

      # Times (ms) at which jobs arrived: what arrived since the last mark,
      # by each look (in the second before it) and by the end of each
      # minute without one (spread over the minute).
      def arrivals(looks, ended)
        done_by = done_by(ended, looks)
        times = []
        arrived = 0
        previous = @from
        seen = Look.new(@from, 0, 0, nil) # the last look, and what had ended by it
        seen_done = 0.0
        marks(looks).each do |at, look|
          done = done_by.call(at)
          queue = look ? look.queue : [seen.queue - (done - seen_done), 0].max
          if look
            seen = look
            seen_done = done
          end
          total = [(done + queue).round, arrived].max
          raise Error, "more than #{MOST_JOBS} jobs in the window: tune fewer days" if total > MOST_JOBS

          # A look follows the news of a job within the store's news gap:
          # what a look found new came in the second before it.
          since = look ? [previous, at - NEWS_MS].max : previous
          count = total - arrived
          count.times { |i| times << since + ((at - since) * (i + 1.0) / (count + 1)) }
          arrived = total
          previous = at
        end
        times
      end

      # [time, Look or nil] in order: the looks, a mark at the end of each
      # minute without one, and the window's end.
      def marks(looks)
        marks = []
        index = 0
        boundaries = (@from + MINUTE_MS...@to).step(MINUTE_MS).to_a << @to
        boundaries.each do |boundary|
          looked = false
          while index < looks.size && looks[index].at <= boundary
            marks << [looks[index].at, looks[index]]
            index += 1
            looked = true
          end
          marks << [boundary, nil] unless marks.last&.first == boundary || (looked && boundary != @to)
        end
        marks
      end

      # The jobs ended by a time (asked in order). A row's jobs ended in the
      # minute before it was written, as the looks saw jobs running in it
      # (a job ends where jobs run: the looks' running × time); evenly over
      # the minute where no look saw any.
      def done_by(ended, looks)
        work = work_by(looks)
        changes = ended.flat_map do |row|
          start = [row.at - COVERS_MS, @from].max
          next [[row.at, row.done.to_f, 0.0, 0.0]] if row.at <= start

          worked = work.call(row.at) - work.call(start)
          per_work, per_ms = worked.positive? ? [row.done / worked, 0.0] : [0.0, row.done.to_f / (row.at - start)]
          [[start, 0.0, per_work, per_ms], [row.at, 0.0, -per_work, -per_ms]]
        end.sort_by(&:first)
        index = 0
        per_work = per_ms = done = 0.0
        swept_to = @from
        sweep = ->(to) { (per_work * (work.call(to) - work.call(swept_to))) + (per_ms * (to - swept_to)) }
        lambda do |at|
          while index < changes.size && changes[index][0] <= at
            time, lump, work_change, ms_change = changes[index]
            done += sweep.call(time) + lump
            swept_to = time
            per_work += work_change
            per_ms += ms_change
            index += 1
          end
          done + sweep.call(at)
        end
      end

      # Jobs running × ms from the window's start to a time: each look's
      # running count held until the next look.
      def work_by(looks)
        times = looks.map(&:at)
        before = looks.each_with_index.each_with_object([0.0]) do |(look, i), sums|
          sums << sums.last + (i + 1 < looks.size ? look.running * (looks[i + 1].at - look.at) : 0)
        end
        lambda do |at|
          index = times.bsearch_index { |time| time > at } || looks.size # looks at or before `at`: index of them
          next 0.0 if index.zero?

          before[index - 1] + (looks[index - 1].running * (at - times[index - 1]))
        end
      end

      def durations(ended)
        @durations = ended.flat_map do |row|
          rest = row.done > 1 ? [(row.seconds - row.longest) / (row.done - 1), 0.0].max : 0.0
          [row.longest, *Array.new(row.done - 1, rest)]
        end
      end

      # When a job scheduled ahead was first seen coming: [due, first seen]
      # per due time the looks saw as the soonest, in order of due time
      # (each look's sum of store time and seconds to it drifts by
      # milliseconds: a due within the news gap of one seen is the same).
      def announced(looks)
        seen = {} # due ÷ NEWS_MS => [due, first seen]
        looks.each do |look|
          due = look.next_due or next
          slot = due / NEWS_MS
          next if (slot - 1..slot + 1).any? { |near| seen[near] && (seen[near][0] - due).abs <= NEWS_MS }

          seen[slot] = [due, look.at]
        end
        seen.values.sort_by(&:first)
      end

      # Jobs past the ended ones (still queued at the end) take the mean. A
      # job that became runnable when a look had seen it coming was
      # enqueued when first seen, due when it came: the simulator boots for
      # it ahead, as the gem did.
      def jobs(times, durations, announced)
        mean = mean_seconds || 0.0
        dues = announced.map(&:first)
        # To the millisecond, as a trace file keeps them (`tune --trace-out`).
        times.each_with_index.map do |at, index|
          due_at = at.round
          nearest = dues.bsearch_index { |due| due >= due_at - NEWS_MS }
          due, first_seen = announced[nearest] if nearest
          enqueued_at = due && due <= due_at + NEWS_MS && first_seen < due_at - NEWS_MS ? first_seen : due_at
          Simulation::Trace::Job.new((enqueued_at - @from) / 1000.0, (due_at - @from) / 1000.0,
                                     durations.fetch(index, mean).round(3), nil)
        end
      end
    end
  end
end
