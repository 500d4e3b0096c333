require "time"

module MiddleManagement
  module LocalFormation
    # The endpoints of Heroku's Platform API that scaling uses, without HTTP:
    # a method, a path and headers in; a status, a JSON-ready value and
    # headers out. The formation's, and what Heroku's CLI reads around them
    # (the app, the account, the dynos), so `heroku ps:scale` works here.
    # Kept apart from the server so faults and rate limiting (which Heroku
    # applies before any of this) stay out of the API's logic.
    class Api
      FORMATION_RANGES = %w[id type].freeze
      DYNO_RANGES = %w[id name].freeze

      attr_reader :app, :app_id, :formation

      # forbidden_tokens: valid credentials without access to this app (403).
      # supervisor: lists the running dynos (else the formation implies them).
      def initialize(app:, app_id:, token:, formation:, forbidden_tokens: [], supervisor: nil)
        @app = app
        @app_id = app_id
        @token = token
        @forbidden_tokens = forbidden_tokens
        @formation = formation
        @supervisor = supervisor
        @representations = Representations.new(app: app, app_id: app_id)
      end

      # headers: lower-cased names. Returns [status, body, headers].
      def call(method, path, headers, body)
        RequestValidation.check_version!(headers["accept"])
        forbidden = authorized_elsewhere?(headers["authorization"])
        endpoint, app, type = route!(method, path)
        return [200, @representations.account, {}] if endpoint == :account
        raise ApiError.app_not_found unless app == @app || app == @app_id
        raise ApiError.forbidden(@app) if forbidden

        answer(endpoint, type, headers, body)
      rescue ApiError => e
        [e.status, e.body, {}]
      end

      private

      # False for this app's token, true for a forbidden one; 401 otherwise.
      def authorized_elsewhere?(authorization)
        presented = RequestValidation.presented_token(authorization)
        return false if RequestValidation.same_token?(presented, @token)
        return true if @forbidden_tokens.any? { |token| RequestValidation.same_token?(presented, token) }

        raise ApiError.unauthorized
      end

      # Each segment is percent-decoded on its own so an encoded "/" stays inside it.
      def route!(method, path)
        segments = path.sub(%r{\A/}, "").split("/", -1).map { |segment| decode(segment) }
        case [method, *segments]
        in ["GET", "account"] then [:account]
        in ["GET", "apps", app] then [:app, app]
        in ["GET", "apps", app, "formation"] then [:formation_list, app]
        in ["PATCH", "apps", app, "formation"] then [:batch_update, app]
        in ["GET", "apps", app, "formation", type] then [:formation_info, app, type]
        in ["PATCH", "apps", app, "formation", type] then [:update, app, type]
        in ["GET", "apps", app, "dynos"] then [:dyno_list, app]
        else raise ApiError.endpoint_not_found
        end
      end

      def answer(endpoint, type, headers, body)
        case endpoint
        when :app then [200, @representations.app, {}]
        when :formation_list then list(FORMATION_RANGES, headers["range"]) { formation_list }
        when :formation_info then [200, @representations.formation(find!(type)), {}]
        when :dyno_list then list(DYNO_RANGES, headers["range"]) { dynos }
        else write(type, RequestValidation.parse_body!(headers["content-type"], body))
        end
      end

      def formation_list = @formation.all.map { |process| @representations.formation(process) }

      def find!(type) = @formation.find(type) || raise(ApiError.type_not_found(type))

      # The range is read first: a bad one is refused before any work.
      def list(attributes, range)
        ListRange.new(range, attributes).apply(yield)
      end

      def write(type, body)
        updates = type ? [UpdateParams.single!(body, type)] : UpdateParams.batch!(body)
        updated = @formation.update(updates).map { |process| @representations.formation(process) }
        [200, type ? updated.first : updated, {}]
      rescue Formation::UnknownType => e
        raise ApiError.type_not_found(e.identity)
      rescue Formation::AboveLimit => e
        raise ApiError.above_limit(e.limit, e.size)
      end

      def dynos
        processes = @formation.all.to_h { |process| [process.type, process] }
        statuses = @supervisor ? @supervisor.dynos : processes.values.flat_map { |process| implied(process) }
        statuses.filter_map { |status| processes[status.type] && @representations.dyno(status, processes[status.type]) }
      end

      # Without a supervisor, the dynos a formation entry stands for, all up.
      def implied(process)
        (1..process.quantity).map do |number|
          Supervisor::Status.new(name: "#{process.type}.#{number}", type: process.type, number: number, state: :up,
                                 up_since: Time.iso8601(process.updated_at))
        end
      end

      def decode(segment)
        segment.gsub(/%\h\h/) { |escape| escape[1, 2].hex.chr }.force_encoding(Encoding::UTF_8)
      end
    end
  end
end
