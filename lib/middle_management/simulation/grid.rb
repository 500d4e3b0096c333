module MiddleManagement
  module Simulation
    # `middle_management simulate TRACE --grid`: replays the trace with every
    # combination of the settings that shape scaling (SEARCHED), keeps the
    # frontier (the settings no other one beats on both cost and p95 wait),
    # and sets the gem's defaults and the peers' models beside it. Settings
    # given on the command line are kept in every replay; a searched one
    # given is searched all the same.
    class Grid
      SEARCHED = {
        jobs_per_worker: [1, 2, 3, 5, 10, 20, "auto"],
        scale_down_delay: [0, 30, 60, 120, 300],
        changes_per_hour: [0, 60]
      }.freeze
      # HireFire sizes one dyno per job (its job-queue ratio at 1), as
      # bench/cost.rb models it.
      # name => [settings, strategy, its options]
      PEERS = {
        "hirefire" => [{ jobs_per_worker: 1 }, "hirefire", {}],
        "hirefire --decrementable" => [{ jobs_per_worker: 1 }, "hirefire", { decrementable: true }],
        "judoscale" => [{}, "judoscale", {}],
        "always-on" => [{}, "always-on", {}]
      }.freeze

      Point = Struct.new(:name, :settings, :report, keyword_init: true) do
        def cost = report[:cost]
        def p95 = report[:wait_p95]
        def changes = report[:calls]

        # Costs no more and waits no longer, and is better at one of them.
        def beats?(other)
          cost <= other.cost && p95 <= other.p95 && (cost < other.cost || p95 < other.p95)
        end

        def to_h = { name: name, settings: settings, cost: cost, wait_p95: p95, changes: changes, killed: report[:killed] }
      end

      # `replay`: a Replay (its `call(settings, strategy, options)` gives a
      # report Hash, as `middle_management simulate --json` prints it).
      # `baseline`: what the replay's own settings are called (`tune`
      # replays the app's: "your settings").
      def initialize(replay, baseline: "the defaults")
        @replay = replay
        @baseline = baseline
      end

      def run
        points = SEARCHED.values.inject(:product).map(&:flatten).map do |values|
          settings = SEARCHED.keys.zip(values).to_h
          Point.new(name: flags(settings), settings: settings, report: @replay.call(settings, "ours", {}))
        end
        defaults = Point.new(name: @baseline, settings: {}, report: @replay.call({}, "ours", {}))
        peers = PEERS.map do |name, (settings, strategy, options)|
          Point.new(name: name, settings: settings, report: @replay.call(settings, strategy, options))
        end
        Result.new(points, defaults, peers)
      end

      def flags(settings) = settings.map { |name, value| "--#{name.to_s.tr("_", "-")} #{value}" }.join(" ")

      # Cents, and two significant digits below a dime: a short trace's cost still shows.
      def self.dollars(amount)
        decimals = amount.positive? ? (1 - Math.log10(amount).floor).clamp(2, 8) : 2
        format("$%.#{decimals}f", amount)
      end

      # What a grid found, as a table or a Hash.
      class Result
        attr_reader :points, :defaults, :peers

        def initialize(points, defaults, peers)
          @points = points
          @defaults = defaults
          @peers = peers
        end

        # Of settings alike in cost and wait, the one with the fewest changes.
        def frontier
          best = points.reject { |point| points.any? { |other| other.beats?(point) } }
          best.group_by { |point| [point.cost.round(2), point.p95.round(1)] }.values
              .map { |alike| alike.min_by(&:changes) }.sort_by(&:cost)
        end

        # The cheapest searched setting that waits no longer at p95 than the defaults.
        def cheapest_as_fast = points.select { |point| point.p95 <= defaults.p95 }.min_by(&:cost)

        # How much more the defaults cost than that setting, in percent (nil
        # when none waits as little: the defaults' own flags may lie outside
        # the grid).
        def defaults_extra
          cheapest = cheapest_as_fast or return nil
          ((defaults.cost / cheapest.cost) - 1) * 100
        end

        # Peers that both cost less and wait less than the defaults.
        def peers_beating_defaults = peers.select { |peer| peer.beats?(defaults) }

        def to_h
          { searched: SEARCHED, frontier: frontier.map(&:to_h), defaults: defaults.to_h,
            cheapest_as_fast: cheapest_as_fast&.to_h, defaults_extra_percent: defaults_extra&.round(1),
            peers: peers.map(&:to_h), peers_beating_defaults: peers_beating_defaults.map(&:name) }
        end

        def to_s
          searched = SEARCHED.map { |name, values| "--#{name.to_s.tr("_", "-")} #{values.join(", ")}" }.join("; ")
          <<~TEXT
            searched #{points.size} settings: #{searched}
            the frontier (no other setting costs less and waits less at p95):
            #{frontier.map { |point| row(point) }.join("\n")}
            #{defaults.name}:
            #{row(defaults)}
              #{verdict}
            peers:
            #{peers.map { |peer| row(peer) + (peer.beats?(defaults) ? "   beats #{defaults.name}" : "") }.join("\n")}
          TEXT
        end

        # A point as the table shows it (`tune` too).
        def row(point)
          format("  %-10s p95 %6.1f s  %6d changes  %s", Grid.dollars(point.cost), point.p95, point.changes, point.name)
        end

        private

        def verdict
          cheapest = cheapest_as_fast
          return "no searched setting waits as little at p95" unless cheapest

          format("%+.1f%% against the cheapest setting waiting no longer at p95 (%s)", defaults_extra, cheapest.name)
        end
      end
    end
  end
end
