module MiddleManagement
  # What the app's own jobs and dynos measure, for JOBS_PER_WORKER=auto
  # ((⌊boot time ÷ job duration⌋ + 1) × DYNO_CONCURRENCY, computed
  # natively: policy/learned.rs) and
  # for people (status, the page). Read from the pool's history: the
  # workers' :jobs entries (per process, a minute's jobs folded: how many,
  # their seconds, the longest) and :boot entries (a dyno's first
  # heartbeat, with the time of the call that raised the formation to
  # it). Free of I/O and clocks (times are the store's, in ms, passed in);
  # Runtime::Measuring reads and writes them.
  module Measures
    # `job_seconds`: the mean duration of the `jobs` done in the last
    # JOB_WINDOW_MS (a day), nil until MIN_JOBS were. `boot_seconds`: the median of
    # the last BOOTS boots seen in BOOT_WINDOW_MS, nil until one was.
    Measured = Struct.new(:job_seconds, :jobs, :boot_seconds, :boots, keyword_init: true) do
      # Both halves of the definition are measured.
      def complete? = !job_seconds.nil? && !boot_seconds.nil?

      # What the page and status say: "jobs take 3.4 s (1203 in the last
      # day); dynos boot in 31 s (5 boots)".
      def to_s
        [job_seconds ? "jobs take #{Measures.seconds(job_seconds)} (#{jobs} in the last day)" : "too few jobs measured",
         boot_seconds ? "dynos boot in #{Measures.seconds(boot_seconds)} (#{boots} #{boots == 1 ? "boot" : "boots"})" : "no boot measured yet"].join("; ")
      end
    end

    # A day: long enough to hold the day's mix (a nightly batch of short
    # jobs, bursts of emails between long reports), which an hour's mean
    # misses (bench/cost.rb's grid: up to a fifth dearer); short enough that
    # a deploy that changes the jobs is followed within the day.
    JOB_WINDOW_MS = 86_400_000
    MIN_JOBS = 5
    BOOT_WINDOW_MS = 86_400_000 # boots are rare (a scale-up's): the last day's
    WINDOW_MS = [JOB_WINDOW_MS, BOOT_WINDOW_MS].max
    BOOTS = 10
    # A first heartbeat this long after the raise is a restart, not a boot.
    BOOT_MOST_MS = 900_000

    module_function

    # From the pool's :jobs and :boot entries, oldest first; `before`:
    # what was measured last (kept while a window holds too little).
    def measured(entries, now:, before: nil)
      jobs = entries.select { |entry| entry.kind == :jobs && entry.at >= now - JOB_WINDOW_MS }
      # A figure that is no number (a row no version of the gem wrote) counts as none.
      done = jobs.sum { |entry| Integer(entry.figures[:done], exception: false) || 0 }
      seconds = jobs.sum { |entry| Float(entry.figures[:seconds], exception: false) || 0.0 }
      boots = entries.select { |entry| entry.kind == :boot && entry.at >= now - BOOT_WINDOW_MS }
                     .filter_map { |entry| boot_seconds(entry) }.last(BOOTS)
      Measured.new(job_seconds: done >= MIN_JOBS ? seconds / done : before&.job_seconds, jobs: done,
                   boot_seconds: boots.empty? ? before&.boot_seconds : median(boots),
                   boots: boots.empty? ? before&.boots.to_i : boots.size)
    end

    # A boot's seconds, or nil for one that is no boot (a restart long after
    # the raise, a clock that disagrees).
    def boot_seconds(entry)
      raised_at = Integer(entry.figures[:raised_at], exception: false) or return nil
      ms = entry.at - raised_at
      ms.between?(0, BOOT_MOST_MS) ? ms / 1000.0 : nil
    end

    # The call that started dyno `position` of a pool (its number, or its
    # place in an Eco/Basic list; nil on Fir, where dynos have no number):
    # the latest :change among `changes` (oldest first) that raised the
    # formation to include it. Nil when none did (a restart, a deploy).
    def raise_for(changes, position)
      changes.reverse.find do |change|
        from = change.figures[:from].to_i
        to = change.figures[:to].to_i
        position ? from < position && position <= to : to > from
      end
    end

    def median(values)
      sorted = values.sort
      middle = sorted.size / 2
      sorted.size.odd? ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2.0
    end

    # "40 ms", "3.4 s", "31 s", as the native scale line says them.
    def seconds(value)
      if value < 1 then "#{(value * 1000).floor} ms"
      elsif value < 10 then format("%.1f s", value)
      else "#{value.round} s"
      end
    end
  end
end
