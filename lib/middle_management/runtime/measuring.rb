require "middle_management/measures"
require "middle_management/worker/dyno"

module MiddleManagement
  module Runtime
    # Measures the pools' jobs and boots in this process (Measures says
    # what they mean). A job's end costs one Mutex and three sums (#job_done,
    # on the job's thread); the coordinator thread (#tick) writes what was
    # folded to the history once a minute (and at exit), never a write per
    # job, and, in a worker dyno that a scale-up started, a :boot entry once. #measured
    # reads a pool's entries back at most once a minute, and only what is
    # new: the day's entries stay in memory.
    class Measuring
      class << self
        # Seconds between writes of this process's folded jobs, and that a
        # reading of the history is used for: a minute each (specs shorten them).
        attr_accessor :write_every, :read_every
      end
      self.write_every = 60.0
      self.read_every = 60.0

      # A row is stamped by the store before its transaction commits: each
      # read looks this far back again.
      OVERLAP_MS = 60_000

      def initialize(pools, history, log, dyno: Worker::Dyno.current)
        @pools = pools
        @history = history
        @log = log
        @dyno = dyno
        @lock = Mutex.new
        @folds = Array.new(pools.size) { [0, 0.0, 0.0] } # per pool: done, seconds, longest
        @written_at = monotonic
        @booted = false
        @reading = Mutex.new # the coordinator decides, the page reads
        @read = {} # pool name => [monotonic time read, Measures::Measured]
        @entries = Hash.new { |hash, pool| hash[pool] = [] } # pool name => the window's :jobs and :boot entries
        @read_to = {} # pool name => the store time read up to (ms)
      end

      # A job of pool `index` ended after `seconds` (failed or not).
      def job_done(index, seconds)
        return unless seconds.is_a?(Numeric) && seconds.finite? && seconds >= 0

        @lock.synchronize do
          fold = @folds[index] or return
          fold[0] += 1
          fold[1] += seconds
          fold[2] = seconds if seconds > fold[2]
        end
      end

      # On the coordinator thread, at every turn of its loop: cheap until a
      # write is due. `store`: nil until a decision chose it.
      def tick(store)
        return unless store && @history.on?

        boot(store) unless @booted
        write_jobs(store) if monotonic - @written_at >= Measuring.write_every
      end

      # The process is exiting (a worker stopped by a scale-down, a
      # deploy): what it folded since its last write goes now, or the day's
      # counts would miss a minute of each stopped worker's jobs (and
      # `tune` would rebuild fewer arrivals than came).
      def at_exit(store)
        write_jobs(store) if store && @history.on?
      end

      # What the history says of `pool`'s jobs and boots (a Measures::Measured),
      # read again once Measuring.read_every has passed; what was read last when the
      # history cannot be read.
      def measured(store, pool, now_ms)
        @reading.synchronize do
          read_at, last = @read[pool.name]
          next last if read_at && monotonic - read_at < Measuring.read_every

          @read[pool.name] = [monotonic, read(store, pool, now_ms, last)]
          @read[pool.name].last
        end
      end

      # The last reading of each pool, for status: nil before the first.
      def last(pool_name) = @read[pool_name]&.last

      private

      def read(store, pool, now_ms, last)
        return last || empty unless @history.on? && store.history_unavailable.nil?

        Measures.measured(entries(store, pool.name, now_ms), now: now_ms, before: last)
      rescue StandardError => e
        @log.failure("could not read the jobs' measures (JOBS_PER_WORKER=auto uses its fallback)", e)
        last || empty
      end

      # The window's entries: the first read takes it whole, the next ones
      # what came since the last (and the overlap again).
      def entries(store, pool, now_ms)
        window_from = now_ms - Measures::WINDOW_MS
        from = [@read_to[pool] ? @read_to[pool] - OVERLAP_MS : window_from, window_from].max
        fresh = @history.read(store, pool: pool, since: from, kinds: %i[jobs boot])
        cached = @entries[pool]
        cached.reject! { |entry| entry.at >= from || entry.at < window_from }
        cached.concat(fresh)
        @read_to[pool] = now_ms
        cached
      end

      def empty = Measures::Measured.new(jobs: 0, boots: 0)

      def write_jobs(store)
        @written_at = monotonic
        folds = @lock.synchronize { @folds.map(&:dup).tap { @folds.each { |fold| fold.replace([0, 0.0, 0.0]) } } }
        entries = @pools.zip(folds).filter_map do |pool, (done, seconds, longest)|
          next if done.zero?

          Store::HistoryEntry.new(pool: pool.name, kind: :jobs, at: nil,
                                  figures: { done: done, seconds: seconds.round(3), longest: longest.round(3) })
        end
        @history.write(store, entries)
      end

      # This process is a dyno of a pool: if a call raised the formation to
      # it lately, the boot took from that call to now.
      def boot(store)
        @booted = true
        found = pool_of_this_dyno or return
        pool, position = found
        since = (Time.now.to_f * 1000).round - Measures::BOOT_MOST_MS
        changes = @history.read(store, pool: pool.name, since: since, kinds: %i[change])
        raised = Measures.raise_for(changes, position) or return
        @history.write(store, [Store::HistoryEntry.new(pool: pool.name, kind: :boot, at: nil,
                                                       figures: { dyno: @dyno.name, raised_at: raised.at })])
      rescue StandardError => e
        @log.failure("could not measure this dyno's boot", e)
      end

      def pool_of_this_dyno
        return nil unless @dyno

        @pools.each do |pool|
          position = pool.position(@dyno) or next
          return [pool, position == :unknown ? nil : position]
        end
        nil
      end

      def monotonic = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    end
  end
end
