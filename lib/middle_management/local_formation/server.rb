require "json"
require "securerandom"

module MiddleManagement
  module LocalFormation
    # Heroku's formation endpoints on 127.0.0.1: the stand-in for
    # api.heroku.com in specs (fake Heroku) and in `middle_management local`,
    # where a Supervisor runs the processes the formation asks for.
    #
    #   heroku = Server.new(app: "example", token: "t", formation: { "worker" => 0 }).start
    #   heroku.url                          # => "http://127.0.0.1:40123"
    #   heroku.fail_next(1, status: 503)    # then inspect heroku.patches
    #   heroku.stop
    class Server
      DEFAULT_APP = "local"
      DEFAULT_RATE_LIMIT = RateLimit::HEROKU_BUCKET

      attr_reader :app, :app_id, :token, :formation, :supervisor, :host

      # formation: a Formation, or quantities such as {"worker" => 0}
      # (default: the supervisor's Procfile types at 0, else worker at 0).
      # limits: {"worker1" => 1} caps types like Eco/Basic dynos.
      # supervisor: runs processes to match every change (see Supervisor).
      # forbidden_tokens: accepted credentials without access to the app (403).
      # web: a Rack app served at /middle_management beside the API (the
      # page, MiddleManagement::Web), outside the API's log and rate limit.
      def initialize(app: DEFAULT_APP, token: SecureRandom.hex(20), formation: nil, limits: {}, supervisor: nil,
                     host: "127.0.0.1", port: 0, rate_limit: DEFAULT_RATE_LIMIT, forbidden_tokens: [], web: nil)
        @app = app
        @app_id = SecureRandom.uuid
        @token = token
        @host = host
        @requested_port = port
        @supervisor = supervisor
        @formation = build_formation(formation, limits)
        @api = Api.new(app: app, app_id: @app_id, token: token, formation: @formation, forbidden_tokens: forbidden_tokens,
                       supervisor: supervisor)
        @log = RequestLog.new
        @faults = Faults.new
        @rate_limit = RateLimit.new(rate_limit)
        @handler = RequestHandler.new(api: @api, log: @log, faults: @faults, rate_limit: @rate_limit, web: web)
        drive(supervisor) if supervisor
      end

      # Listens, serves on a background thread, and sets the supervisor going.
      def start
        raise "#{self.class} already started" if @listener

        @listener = Listener.new(@handler, host: @host, port: @requested_port)
        @thread = @listener.start_in_background
        @supervisor&.apply(@formation.quantities)
        self
      end

      # Stops serving (requests held by faults are dropped), then the
      # supervisor's processes, if it has one. Idempotent.
      def stop
        @faults.release!
        if @listener && !@stopped
          @stopped = true
          @listener.shutdown
          @thread.join
        end
        @supervisor&.stop_all
        self
      end

      def running? = !@listener.nil? && !@stopped

      def port = @listener&.port

      def url = "http://#{@host}:#{port}"

      # Where the page is served, when the server has one.
      def page_url = "#{url}#{RequestHandler::WEB_PATH}"

      # --- the formation ---------------------------------------------------

      def quantity(type) = @formation.quantity(type)

      def quantities = @formation.quantities

      # As if someone ran `heroku ps:scale` by hand.
      def set_quantity(type, quantity) = @formation.set(type, quantity)

      def wait_for_quantity(type, quantity, timeout: 5) = @formation.wait_for(type, quantity, timeout: timeout)

      # --- what was asked --------------------------------------------------

      def requests = @log.all

      def patches = @log.patches

      def last_request = @log.last

      def clear_requests = @log.clear

      # Waits for that many requests to be answered (or hung or dropped by a
      # fault); false on timeout.
      def wait_for_requests(count, timeout: 5) = @log.wait(timeout) { |answered| answered.size >= count }

      def wait_for_patches(count, timeout: 5) = @log.wait(timeout) { |answered| answered.count(&:patch?) >= count }

      # --- rate limit ------------------------------------------------------

      def rate_limit_remaining = @rate_limit.remaining

      def rate_limit_remaining=(remaining)
        @rate_limit.remaining = remaining
      end

      # --- faults ----------------------------------------------------------

      def fail_next(count, status: 503, id: "unavailable", message: "The service is temporarily unavailable.")
        canned(count, status, "application/json", { "id" => id, "message" => message }.to_json)
      end

      def rate_limit_next(count)
        canned(count, 429, "application/json", ApiError.rate_limit.to_json, remaining: 0)
      end

      # 200 with an HTML page, like a proxy answering for Heroku.
      def malformed_next(count) = canned(count, 200, "text/html", Faults::MALFORMED_BODY)

      # Reads the request, then closes the connection without a response.
      def drop_next(count) = @faults.push(count, Faults::DROP)

      # Every response waits this long (after its change is applied); 0 ends it.
      def delay(seconds) = (@faults.delay = seconds)

      # Requests from now on are never answered (dropped when the server stops).
      def hang! = @faults.hang!

      def resume! = @faults.resume!

      def clear_faults! = @faults.clear

      def pending_faults = @faults.pending

      # A base URL where nothing listens: connection refused.
      def self.closed_port_url(host = "127.0.0.1")
        server = TCPServer.new(host, 0)
        "http://#{host}:#{server.addr[1]}"
      ensure
        server&.close
      end

      private

      def build_formation(formation, limits)
        return formation if formation.is_a?(Formation)

        procfile = @supervisor&.procfile
        formation ||= procfile ? procfile.types.to_h { |type| [type, 0] } : { "worker" => 0 }
        Formation.new(formation, commands: procfile ? procfile.to_h : {}, limits: limits)
      end

      def drive(supervisor)
        @formation.on_change do |change|
          supervisor.scale(change.type, change.to) if supervisor.procfile.include?(change.type)
        end
      end

      def canned(count, status, content_type, body, remaining: nil)
        fault = Faults::Canned.new(status: status, content_type: content_type, body: body, rate_limit_remaining: remaining)
        @faults.push(count, fault)
      end
    end
  end
end
