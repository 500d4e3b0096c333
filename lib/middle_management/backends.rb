require "middle_management/backends/backend"

module MiddleManagement
  # One adapter per job library, each a small module with the same duties,
  # the contract Backends::Backend describes (GoodJob and Solid Queue are
  # hooked through Active Job: ActiveJobEvents), and what the gem does with
  # all of them at once.
  module Backends
    # What a backend reports for one pool. `next_run_in`: seconds until the
    # earliest job scheduled for later, or nil. `busy_dynos`: the dyno name
    # (`worker.3`) of each running job's worker, nil where it is not known.
    # `capped`: the runnable count stopped at the cap it was asked for (there
    # are at least that many); `count(pool, cap:)` may count no further.
    # `oldest_wait`: seconds the oldest runnable job has waited, where the
    # library tells it cheaply (nil otherwise), for the history and alerts.
    Counts = Struct.new(:runnable, :running, :next_run_in, :busy_dynos, :capped, :oldest_wait, keyword_init: true)

    # Every library's counts for `pool`, summed. A library that cannot count
    # (its Redis is down) is left out and logged; nil when none could.
    # `cap`: runnable jobs need be counted only this far (nil: exactly); each
    # library's count stops there, so the sum reaches the cap when one does.
    def self.count(backends, pool, cap:, log:)
      counts = backends.filter_map do |backend|
        backend.count(pool, cap: cap)
      rescue StandardError => e
        log.failure("could not count #{backend.name.split("::").last} jobs for #{pool.name}", e)
        nil
      end
      return nil if counts.empty? && backends.any?

      Counts.new(runnable: counts.sum(&:runnable), running: counts.sum(&:running),
                 next_run_in: counts.filter_map(&:next_run_in).min,
                 busy_dynos: counts.flat_map { |c| c.busy_dynos || [] }, capped: counts.any?(&:capped),
                 oldest_wait: counts.filter_map(&:oldest_wait).max)
    end

    # How long a job may run before a count sees it busy (Sidekiq publishes
    # them with its heartbeat): a scale-down waits that long, so that a job a
    # dyno fetched just before the app decided it drains is seen. Said once
    # where it outlasts SCALE_DOWN_DELAY.
    def self.busy_lag(backends, scale_down_delay:, log:)
      lag, backend = backends.map { |b| [b.busy_lag, b] }.select(&:first).max_by(&:first)
      if lag && lag > scale_down_delay
        log.once(:busy_lag, "#{backend.name.split("::").last} shows busy jobs up to #{lag.round} s late: " \
                            "scale-downs wait #{lag.round} s (SCALE_DOWN_DELAY is #{scale_down_delay.round})")
      end
      lag || 0
    end

    # The backends whose library is loaded, in the order they are tried.
    def self.available
      [DelayedJob, Sidekiq, Resque, GoodJob, SolidQueue].select(&:available?)
    end
  end
end

require "middle_management/backends/delayed_job"
require "middle_management/backends/sidekiq"
require "middle_management/backends/resque"
require "middle_management/backends/good_job"
require "middle_management/backends/solid_queue"
